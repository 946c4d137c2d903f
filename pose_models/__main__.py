"""``python -m pose_models <tool> ...`` from the pack folder: see :mod:`pose_models.cli`."""

import sys

from .cli import main

sys.exit(main())
