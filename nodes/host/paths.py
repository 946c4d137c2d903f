"""The one rule for file and folder names that come from a workflow.

A workflow is data a user may have downloaded, so every name it gives for a file or folder (a model,
an insightface pack, a pose file, an output prefix) is a *name inside one of the host's folders*:

* refused when it is empty (where a name is required), contains a NUL character, is absolute (``/x``,
  ``C:\\x``, ``\\\\server\\x``) or has a ``..`` part, all with one wording:
  ``"<node>: <input> '<name>' must be a name inside <folder>; ..."``;
* then resolved with symlinks followed and refused when the result leaves the folder (a link in the
  input or output folder pointing elsewhere). Model folders are the exception: a link the user placed
  there (a pack kept on another disk) is the user's own choice, and the host follows such links too, so
  for them only the name itself is checked (``follow_links_out=True``).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from ...pose_models.errors import PoseTransferError


class UnsafePathError(PoseTransferError):
    """A file or folder name from a workflow that points outside the host folder it must stay in."""


_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_reason(name: str) -> str | None:
    if "\x00" in name:
        return "it contains a NUL character"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return "it is an absolute path"
    parts = set(PurePosixPath(name).parts) | set(PureWindowsPath(name).parts)
    if ".." in parts:
        return "it has a '..' part"
    return None


def _refuse(node: str, input_name: str, name: str, folder: str, reason: str) -> UnsafePathError:
    return UnsafePathError(
        f"{node}: {input_name} {name!r} must be a name inside {folder}; {reason}. Absolute paths, '..' "
        "and NUL characters are not allowed: put the file into that folder and give its name there."
    )


def check_name(name: object, node: str, input_name: str, folder: str, required: bool = True) -> str:
    """``name`` when it is a safe relative name (module docstring); :class:`UnsafePathError` otherwise.
    ``folder`` is how the message names the folder (``"models/insightface/models/"``)."""
    if not isinstance(name, str):
        raise UnsafePathError(f"{node}: {input_name} must be text, got {type(name).__name__}.")
    if required and not name.strip():
        raise _refuse(node, input_name, name, folder, "it is empty")
    reason = _unsafe_reason(name)
    if reason:
        raise _refuse(node, input_name, name, folder, reason)
    return name


def inside_folder(root: str | Path, name: str, node: str, input_name: str, folder: str,
                  follow_links_out: bool = False) -> Path:
    """Absolute path of ``name`` under ``root``, by the rule of the module docstring (existence is the
    caller's check). ``folder`` is how the message names ``root``."""
    check_name(name, node, input_name, folder)
    base = Path(root).resolve()
    path = base / name
    if follow_links_out:
        return path
    resolved = path.resolve()
    if resolved != base and base not in resolved.parents:
        raise _refuse(node, input_name, name, folder, f"it leads to {resolved} through a link")
    return resolved


def check_prefix(prefix: object, node: str, folder: str, input_name: str = "filename_prefix") -> str:
    """An output ``filename_prefix`` (``"poses/pose"``: subfolders, then the file stem the host's counter
    is added to) checked by the same rule, plus a stem: an empty prefix or one ending in ``/`` or ``.``
    would write hidden ``._00001_`` files."""
    check_name(prefix, node, input_name, folder)
    stem = PurePosixPath(str(prefix).replace("\\", "/")).name
    if stem in ("", ".") or str(prefix).rstrip().endswith(("/", "\\")):
        raise UnsafePathError(f"{node}: {input_name} {prefix!r} has no file name after its folders; end it "
                              "with a name, e.g. 'poses/pose'.")
    return str(prefix)
