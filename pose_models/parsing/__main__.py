"""``python -m pose_models.parsing``: see :mod:`pose_models.parsing.cli`."""

from .cli import main

raise SystemExit(main())
