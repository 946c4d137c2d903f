"""Stand in for torchaudio where it is not installed, so newer hosts import on the test machine.

Upstream ComfyUI imports ``torchaudio`` at start-up from modules the pack never runs (audio VAEs, a text
encoder's audio front end; ``comfy/sd.py`` imports one of them since the 0.2x releases). No torchaudio
wheel matches the pinned CPU torch, so when it is missing an empty ``torchaudio`` package (with the
``functional`` and ``transforms`` submodules those imports name) is registered; any attribute read on it
raises ``ImportError``, so audio code fails loudly instead of computing anything.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types

_SUBMODULES = ("functional", "transforms")


class _Missing(types.ModuleType):
    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"torchaudio is not installed in the test environment ({self.__name__}.{name})")


def stub_torchaudio() -> None:
    """Register the stand-in once, and only when no real torchaudio can be imported."""
    if "torchaudio" in sys.modules or importlib.util.find_spec("torchaudio") is not None:
        return
    package = _Missing("torchaudio")
    package.__path__ = []
    package.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None, is_package=True)
    sys.modules["torchaudio"] = package
    for name in _SUBMODULES:
        module = _Missing(f"torchaudio.{name}")
        module.__spec__ = importlib.machinery.ModuleSpec(module.__name__, None)
        sys.modules[module.__name__] = module
        setattr(package, name, module)
