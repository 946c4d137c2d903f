"""Canonical pose types and tables: Person/PoseFrame contracts, COCO-18 bones, mirror permutations."""

from __future__ import annotations

import numpy as np
import pytest

from pose_models.pose import BODY_JOINTS, BONES, Person, PoseFormatError, PoseFrame, require_person
from pose_models.pose.keypoints import (
    BODY_LR_PAIRS,
    BODY_MIRROR,
    BONE_MIRROR,
    FACE_MIRROR,
    FEET_MIRROR,
    check_canvas_side,
)


def body(**joints: tuple[float, float, float]) -> np.ndarray:
    arr = np.zeros((18, 3), np.float32)
    for name, value in joints.items():
        arr[BODY_JOINTS.index(name)] = value
    return arr


def test_coco18_tables():
    assert len(BODY_JOINTS) == 18 and BODY_JOINTS[1] == "neck" and BODY_JOINTS[17] == "left_ear"
    assert BONES == ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11),
                     (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
    # a tree rooted at the neck, parents listed before children
    placed = {1}
    for p, c in BONES:
        assert p in placed and c not in placed
        placed.add(c)
    assert placed == set(range(18))


@pytest.mark.parametrize("perm", [BODY_MIRROR, BONE_MIRROR, FACE_MIRROR, FEET_MIRROR])
def test_mirror_tables_are_involutions(perm):
    assert sorted(perm) == list(range(len(perm)))
    assert [perm[perm[i]] for i in range(len(perm))] == list(range(len(perm)))


def test_mirror_tables_pair_left_and_right():
    for r, left in BODY_LR_PAIRS:
        assert BODY_JOINTS[r].replace("right", "left") == BODY_JOINTS[left]
    assert BONE_MIRROR[BONES.index((1, 2))] == BONES.index((1, 5))
    assert BONE_MIRROR[BONES.index((1, 0))] == BONES.index((1, 0))
    assert FACE_MIRROR[0] == 16 and FACE_MIRROR[8] == 8 and FACE_MIRROR[36] == 45 and FACE_MIRROR[68] == 69


def test_person_canonicalises_and_freezes():
    raw = body(neck=(10, 20, 0.5), nose=(np.nan, 5, 0))  # NaN allowed on a missing point
    p = Person(raw.astype(np.float64))
    assert p.body.dtype == np.float32 and p.body.shape == (18, 3)
    assert p.body[0].tolist() == [0, 0, 0]  # missing points are stored as zeros
    assert not p.body.flags.writeable
    raw[1] = (99, 99, 1)
    assert p.body[1].tolist() == [10, 20, 0.5]  # copied, not aliased
    with pytest.raises(AttributeError):
        p.body = raw  # frozen
    assert p == Person(p.body.copy()) and p != Person(p.body, face=np.zeros((70, 3)))
    assert p.has_visible() and not Person.empty().has_visible()


def test_person_part_shapes_are_checked():
    with pytest.raises(PoseFormatError, match=r"Person.face: expected shape \[70, 3\]"):
        Person(np.zeros((18, 3)), face=np.zeros((68, 3)))
    with pytest.raises(PoseFormatError, match=r"Person.body.*\[18, 3\].*got \[17, 3\]"):
        Person(np.zeros((17, 3)))


def test_person_rejects_non_finite_visible_points_and_bad_confidence():
    with pytest.raises(PoseFormatError, match=r"point 1: coordinates .* not finite"):
        Person(body(neck=(np.inf, 3, 1)))
    with pytest.raises(PoseFormatError, match=r"point 1: confidence .* finite number >= 0"):
        Person(body(neck=(1, 3, -0.5)))
    with pytest.raises(PoseFormatError, match=r"point 2: confidence nan"):
        Person(body(right_shoulder=(1, 3, np.nan)))


def test_frame_validates_canvas_and_people():
    f = PoseFrame([Person.empty()], 512.0, 768)
    assert f.canvas_width == 512 and isinstance(f.canvas_width, int) and isinstance(f.people, tuple)
    for bad in (0, -3, 12.5, None, "512", True, float("nan")):
        with pytest.raises(PoseFormatError, match="canvas_width"):
            PoseFrame((), bad, 10)
    with pytest.raises(PoseFormatError, match=r"people\[0\] is a dict"):
        PoseFrame(({"pose_keypoints_2d": []},), 10, 10)
    assert check_canvas_side(np.int64(7), "w") == 7


def test_empty_frame_is_valid_but_require_person_explains():
    empty = PoseFrame((), 64, 64)
    assert empty.people == ()
    with pytest.raises(PoseFormatError, match="has no people, but retargeting needs one"):
        require_person(empty, what="retargeting")
    one = PoseFrame((Person.empty(),), 64, 64)
    assert require_person(one) is one.people[0]
    with pytest.raises(PoseFormatError, match="person index 3 does not exist"):
        require_person(one, 3)
