"""Start the host's ``main.py`` from a tree with the torchvision workaround applied first.

Usage: ``python launcher.py <tree> [ComfyUI arguments ...]``. Runs ``<tree>/main.py`` as ``__main__``
with the given arguments, in the tree as working directory.
"""

from __future__ import annotations

import os
import runpy
import sys

from torchaudio_stub import stub_torchaudio
from torchvision_fix import declare_torchvision_ops


def main() -> None:
    tree = os.path.abspath(sys.argv[1])
    declare_torchvision_ops()
    stub_torchaudio()
    # Drop this script's folder from sys.path: its module names must not shadow the host's.
    sys.path = [tree] + [p for p in sys.path[1:] if os.path.abspath(p) != os.path.dirname(__file__)]
    os.chdir(tree)
    sys.argv = [os.path.join(tree, "main.py"), *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
