"""``python -m pose_models.cfld``: see :mod:`pose_models.cfld.cli`."""

from .cli import main

raise SystemExit(main())
