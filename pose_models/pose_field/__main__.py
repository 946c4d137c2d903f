"""``python -m pose_models.pose_field``: see :mod:`pose_models.pose_field.cli`."""

from .cli import main

raise SystemExit(main())
