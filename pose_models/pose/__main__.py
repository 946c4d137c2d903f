"""``python -m pose_models.pose``: see :mod:`pose_models.pose.cli`."""

from .cli import main

raise SystemExit(main())
