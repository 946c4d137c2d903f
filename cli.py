"""The pack's command lines from any folder: ``python path/to/pose-transfer/cli.py <tool> <command> ...``.

Run it with ComfyUI's Python (it needs torch, numpy, safetensors and Pillow, as the pack does; on the Windows
portable build ``python_embeded\\python.exe``). ``python cli.py --help`` lists the tools (``pose``,
``pose-field``, ``parsing``, ``cfld``). This file only puts the pack folder on the import path and hands over
to :mod:`pose_models.cli`; ComfyUI never imports it.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pose_models.cli import main

    sys.exit(main())
