"""The one path rule (nodes/host/paths.py): names from a workflow stay inside the host folder they name."""

from __future__ import annotations

import sys

import pytest
from host_tree import PACK_FOLDER


@pytest.fixture(scope="module")
def paths(comfy_host):
    pack = next(name for name in sys.modules if name.endswith(f"custom_nodes/{PACK_FOLDER}"))
    return sys.modules[f"{pack}.nodes.host.paths"]


@pytest.mark.parametrize(("name", "reason"), [
    ("../secret.json", "it has a '..' part"),
    ("poses/../../secret.json", "it has a '..' part"),
    ("poses\\..\\..\\secret.json", "it has a '..' part"),
    ("/etc/passwd", "it is an absolute path"),
    ("\\\\server\\share\\x", "it is an absolute path"),
    ("C:\\Windows\\x", "it is an absolute path"),
    ("c:x", "it is an absolute path"),
    ("pose\x00.json", "it contains a NUL character"),
    ("", "it is empty"),
    ("   ", "it is empty"),
])
def test_unsafe_names_are_refused_in_one_wording(paths, tmp_path, name, reason):
    with pytest.raises(paths.UnsafePathError) as refused:
        paths.inside_folder(tmp_path, name, "Load Pose File", "file", "the input folder")
    assert str(refused.value).startswith(f"Load Pose File: file {name!r} must be a name inside the input "
                                         f"folder; {reason}.")


def test_names_inside_the_folder_resolve_there(paths, tmp_path):
    inside = paths.inside_folder(tmp_path, "poses/a.json", "n", "file", "f")
    assert inside == tmp_path.resolve() / "poses" / "a.json"
    assert paths.inside_folder(tmp_path, "a..b.json", "n", "file", "f").name == "a..b.json"


def test_a_link_out_of_the_folder_is_refused_unless_model_links_are_followed(paths, tmp_path):
    root, outside = tmp_path / "input", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "shared").symlink_to(outside, target_is_directory=True)
    with pytest.raises(paths.UnsafePathError, match="through a link"):
        paths.inside_folder(root, "shared/pose.json", "Load Pose File", "file", "the input folder")
    followed = paths.inside_folder(root, "shared", "Face Similarity", "insightface",
                                   "models/insightface/models/", follow_links_out=True)
    assert followed.resolve() == outside.resolve()


@pytest.mark.parametrize("prefix", ["", "poses/", ".", "poses\\"])
def test_an_output_prefix_needs_a_file_name(paths, prefix):
    with pytest.raises(paths.UnsafePathError):
        paths.check_prefix(prefix, "Save Pose File", "the output folder")


def test_good_prefixes_pass(paths):
    for prefix in ("poses/pose", "pose", "a/b/c", "%date%/pose"):
        assert paths.check_prefix(prefix, "Save Pose File", "the output folder") == prefix
