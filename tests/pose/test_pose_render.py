"""Rendering: OpenPose ControlNet skeleton exactness, heatmaps, limb masks, CFLD skeleton."""

from __future__ import annotations

import colorsys
import math

import cv2
import numpy as np
import pytest

from pose_models.pose import (
    BONES,
    Person,
    PoseFrame,
    limb_masks,
    render_cfld_skeleton,
    render_heatmaps,
    render_openpose,
)
from pose_models.pose.render import HAND_EDGES, OPENPOSE_COLORS, xinsir_stick_scale

# A spread-out pose on a 512 x 512 canvas: every bone >= 40 px, no two limbs meet at a midpoint.
SPREAD = np.array([
    (256, 100), (256, 180), (176, 180), (120, 260), (80, 340), (336, 180), (392, 260), (432, 340),
    (200, 330), (190, 420), (180, 500), (312, 330), (322, 420), (332, 500), (226, 70), (286, 70),
    (186, 50), (326, 50),
], np.float32)


def person(xy: np.ndarray = SPREAD, missing: tuple[int, ...] = (), **parts) -> Person:
    b = np.column_stack([xy, np.ones(18, np.float32)])
    b[list(missing)] = 0
    return Person(b, **parts)


def frame(*people: Person, w: int = 512, h: int = 512) -> PoseFrame:
    return PoseFrame(people, w, h)


def limb_colour(k: int) -> list[int]:
    return [int(c * 0.6) for c in OPENPOSE_COLORS[k]]


def test_openpose_colours_table():
    assert OPENPOSE_COLORS[0] == (255, 0, 0) and OPENPOSE_COLORS[1] == (255, 85, 0)
    assert len(OPENPOSE_COLORS) == 18 and len(set(OPENPOSE_COLORS)) == 18
    assert limb_colour(0) == [153, 0, 0] and limb_colour(1) == [153, 51, 0]


def test_limb_midpoints_and_joint_centres_have_exact_colours():
    img = render_openpose(frame(person()))
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
    for k, (p, c) in enumerate(BONES):
        mx, my = (SPREAD[p] + SPREAD[c]) / 2
        assert img[int(my), int(mx)].tolist() == limb_colour(k), f"limb {k} {BONES[k]}"
    for j in range(18):
        x, y = SPREAD[j]
        assert img[int(y), int(x)].tolist() == list(OPENPOSE_COLORS[j]), f"joint {j}"
    assert img[5, 5].tolist() == [0, 0, 0] and img[505, 505].tolist() == [0, 0, 0]  # black background


def test_single_limb_matches_the_documented_geometry_pixel_for_pixel():
    """One limb = filled ellipse (semi-axes length/2 and 4, angle of the bone) in 0.6 x colour + r-4 discs."""
    xy = np.zeros((18, 2), np.float32)
    xy[1], xy[2] = (100.3, 60.7), (37.9, 140.2)
    img = render_openpose(frame(person(xy, missing=tuple(range(3, 18)) + (0,)), w=200, h=200))
    expected = np.zeros((200, 200, 3), np.uint8)
    (x0, y0), (x1, y1) = xy[1], xy[2]
    length = math.hypot(x0 - x1, y0 - y1)
    angle = math.degrees(math.atan2(y0 - y1, x0 - x1))
    centre = (int((x0 + x1) / 2), int((y0 + y1) / 2))
    poly = cv2.ellipse2Poly(centre, (int(length / 2), 4), int(angle), 0, 360, 1)
    cv2.fillConvexPoly(expected, poly, limb_colour(0))
    cv2.circle(expected, (int(x0), int(y0)), 4, OPENPOSE_COLORS[1], -1)
    cv2.circle(expected, (int(x1), int(y1)), 4, OPENPOSE_COLORS[2], -1)
    assert np.array_equal(img, expected)
    # the limb is 2 * 4 px wide across its middle: count coloured pixels on a perpendicular line
    d = np.array([x1 - x0, y1 - y0]) / length
    n = np.array([-d[1], d[0]])
    mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    samples = [mid + t * n for t in np.arange(-8, 8.5, 0.5)]
    across = [img[int(round(q[1])), int(round(q[0]))].any() for q in samples]
    assert 14 <= sum(across) <= 20  # ~ 9 px at 0.5 px steps ~ 18 samples


def test_missing_joints_are_not_drawn():
    img = render_openpose(frame(person(missing=(3,))))  # right elbow
    x, y = SPREAD[3]
    assert img[int(y), int(x)].tolist() == [0, 0, 0]
    for bone in ((2, 3), (3, 4)):
        mx, my = (SPREAD[bone[0]] + SPREAD[bone[1]]) / 2
        assert img[int(my), int(mx)].tolist() == [0, 0, 0]
    assert img[int(SPREAD[4][1]), int(SPREAD[4][0])].tolist() == list(OPENPOSE_COLORS[4])  # wrist still drawn


@pytest.mark.parametrize("w, h", [(1024, 1024), (256, 512), (300, 200)])
def test_output_size_scales_coordinates(w, h):
    img = render_openpose(frame(person()), h, w)
    assert img.shape == (h, w, 3)
    for j in range(18):
        x, y = SPREAD[j] * (w / 512, h / 512)
        assert img[int(y), int(x)].tolist() == list(OPENPOSE_COLORS[j])


def test_xinsir_stick_scaling():
    assert [xinsir_stick_scale(s, 10) for s in (499, 500, 999, 1000, 2500, 9000)] == [1, 2, 2, 3, 4, 7]
    p = person()
    plain = render_openpose(frame(p), 1024, 1024)
    wide = render_openpose(frame(p), 1024, 1024, xinsir_stick_scaling=True)  # half-width 4 * 3 = 12
    mx, my = (SPREAD[1] + SPREAD[0]) / 2 * 2  # vertical neck-nose limb, doubled to 1024
    assert plain[int(my), int(mx) + 9].tolist() == [0, 0, 0]
    assert wide[int(my), int(mx) + 9].tolist() == limb_colour(12)
    small = render_openpose(frame(p), xinsir_stick_scaling=True)  # 512 px: scale 2
    assert small[int(my / 2), int(mx / 2) + 6].tolist() == limb_colour(12)
    assert render_openpose(frame(p))[int(my / 2), int(mx / 2) + 6].tolist() == [0, 0, 0]


def test_hands_and_face_drawn_only_on_request():
    hand = np.column_stack([np.linspace(40, 240, 21), np.full(21, 450), np.ones(21)]).astype(np.float32)
    hand[[1, 2, 3, 4], 1] = 470  # thumb: a separate row, edges 0-1 ... 3-4
    face = np.column_stack([np.linspace(200, 320, 70), np.full(70, 20), np.ones(70)]).astype(np.float32)
    p = person(missing=tuple(range(18)), right_hand=hand, face=face)
    assert not render_openpose(frame(p)).any()  # body missing, hands/face off by default
    img = render_openpose(frame(p), draw_body=False, draw_hands=True)
    # edge 1 -> 2 of the thumb (colour index 1) at its midpoint, off the joint discs
    (ax, ay), (bx, by) = hand[1, :2], hand[2, :2]
    edge = HAND_EDGES.index((1, 2))
    expected = [round(255 * v) for v in colorsys.hsv_to_rgb(edge / 20, 1, 1)]
    mid = img[int((ay + by) / 2), int((ax + bx) / 2)].tolist()
    assert np.abs(np.array(mid) - expected).max() <= 1 and expected != [0, 0, 0]
    assert img[int(hand[10, 1]), int(hand[10, 0])].tolist() == [0, 0, 255]  # hand joints: blue discs
    assert not img[:100].any()  # face not drawn
    img = render_openpose(frame(p), draw_body=False, draw_face=True)
    assert img[20, 200].tolist() == [255, 255, 255] and img[24, 260].tolist() == [0, 0, 0]  # radius 3 discs
    assert not img[400:].any()


def test_people_drawn_in_order_and_off_canvas_points_are_clipped():
    shifted = person(SPREAD + (600, 0))  # entirely right of the canvas
    img = render_openpose(frame(person(), shifted))
    assert np.array_equal(img, render_openpose(frame(person())))
    half = SPREAD.copy()
    half[4] = (-300, 340)  # right wrist far left of the canvas: its forearm is partly drawn
    img = render_openpose(frame(person(half)))
    for x in (50, 0):  # on the segment elbow (120, 260) -> wrist (-300, 340), up to the clipped edge
        y = 260 + (120 - x) / 420 * 80
        assert img[int(round(y)), x].tolist() == limb_colour(BONES.index((3, 4)))
    absurd = SPREAD.copy()
    absurd[4] = (1e12, -1e12)
    assert render_openpose(frame(person(absurd))).shape == (512, 512, 3)
    assert render_heatmaps(frame(person(absurd)), 3.0).shape == (18, 512, 512)
    assert limb_masks(frame(person(absurd)), 4.0).shape == (17, 512, 512)


# --- heatmaps --------------------------------------------------------------------------------------------

def test_heatmap_peak_value_and_sigma():
    maps = render_heatmaps(frame(person()), sigma=6.0)
    assert maps.shape == (18, 512, 512) and maps.dtype == np.float32
    for j in range(18):
        x, y = SPREAD[j].astype(int)
        assert maps[j, y, x] == 1.0 and maps[j].max() == 1.0
        assert maps[j, y, x + 6] == pytest.approx(math.exp(-0.5), abs=1e-6)  # one sigma away
        assert maps[j, y - 12, x] == pytest.approx(math.exp(-2.0), abs=1e-6)  # two sigmas away
    wide = render_heatmaps(frame(person()), sigma=12.0)
    x, y = SPREAD[0].astype(int)
    assert wide[0, y, x + 12] == pytest.approx(math.exp(-0.5), abs=1e-6)
    # full width at half maximum = 2.355 sigma
    row = wide[0, y]
    assert (row >= 0.5).sum() == pytest.approx(2.355 * 12, abs=1.5)


def test_heatmaps_missing_joint_zero_and_people_max():
    a = person(missing=(3,))
    b = person(SPREAD + (0, -40))
    maps = render_heatmaps(frame(a), 4.0)
    assert not maps[3].any() and maps[4].max() == 1.0
    maps2 = render_heatmaps(frame(a, b), 4.0)
    x, y = SPREAD[5].astype(int)
    assert maps2[5, y, x] == 1.0 and maps2[5, y - 40, x] == 1.0
    assert np.array_equal(maps2[5], np.maximum(maps[5], render_heatmaps(frame(b), 4.0)[5]))


def test_heatmaps_match_cfld_convention_on_deepfashion_frame():
    """CFLD: 176x256 keypoints scaled to 256x256, int-truncated centre, exp(-d^2 / (2 * 6^2))."""
    xy = np.array([(87, 36), (88, 82), (51, 81), (41, 141), (43, 202), (122, 83), (128, 148), (144, 207),
                   (68, 195), (0, 0), (0, 0), (114, 195), (0, 0), (0, 0), (79, 27), (96, 27), (70, 30),
                   (107, 32)], np.float32)
    p = person(xy, missing=(9, 10, 12, 13))
    maps = render_heatmaps(PoseFrame((p,), 176, 256), 6.0, 256, 256)
    yy, xx = np.mgrid[0:256, 0:256]
    for j in range(18):
        if j in (9, 10, 12, 13):
            assert not maps[j].any()
            continue
        cx, cy = int(xy[j, 0] / 176 * 256), int(xy[j, 1] / 256 * 256)
        ref = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0**2)).astype(np.float32)
        np.testing.assert_allclose(maps[j], ref, atol=1e-6)


def test_heatmaps_subpixel_centres():
    xy = SPREAD.copy()
    xy[0] = (100.5, 50.0)
    maps = render_heatmaps(frame(person(xy)), 3.0, integer_centres=False)
    assert maps[0, 50, 100] == pytest.approx(maps[0, 50, 101]) and maps[0, 50, 100] < 1.0


# --- limb masks ------------------------------------------------------------------------------------------

def test_limb_masks_cover_each_bone_and_nothing_far_away():
    masks = limb_masks(frame(person()), width_px=6.0)
    assert masks.shape == (17, 512, 512) and masks.dtype == np.float32
    assert set(np.unique(masks)) == {0.0, 1.0}
    for k, (p, c) in enumerate(BONES):
        a, b = SPREAD[p].astype(np.float64), SPREAD[c].astype(np.float64)
        for t in np.linspace(0, 1, 25):
            q = np.rint(a + t * (b - a)).astype(int)
            assert masks[k, q[1], q[0]] == 1.0
        length = np.linalg.norm(b - a)
        area = masks[k].sum()  # a 6 px wide capsule, counted on pixel centres
        assert length * 5 <= area <= (length + 6) * 7 + 10
        n = np.array([-(b - a)[1], (b - a)[0]]) / length
        far = np.rint((a + b) / 2 + 5 * n).astype(int)
        assert masks[k, far[1], far[0]] == 0.0


def test_limb_masks_missing_and_degenerate_and_scaled():
    masks = limb_masks(frame(person(missing=(3,))), 4.0)
    assert not masks[BONES.index((2, 3))].any() and not masks[BONES.index((3, 4))].any()
    xy = SPREAD.copy()
    xy[4] = xy[3]  # zero-length forearm -> a disc of radius 2
    disc = limb_masks(frame(person(xy)), 4.0)[BONES.index((3, 4))]
    assert disc.sum() == 13  # pixel centres within 2 px of a point
    big = limb_masks(frame(person()), 4.0, 1024, 1024)
    x, y = (SPREAD[0] + SPREAD[1]) / 2 * 2
    assert big[BONES.index((1, 0)), int(y), int(x)] == 1.0


# --- CFLD skeleton ---------------------------------------------------------------------------------------

def test_cfld_skeleton():
    xy = SPREAD * (176 / 512, 256 / 512)  # the spread pose in the DeepFashion 176 x 256 frame
    img = render_cfld_skeleton(frame(person(xy, missing=(3,)), w=176, h=256))
    assert img.shape == (256, 256, 3)
    for j in range(18):
        x, y = int(xy[j, 0] * 256 / 176), int(xy[j, 1])
        assert img[y, x].tolist() == ([0, 0, 0] if j == 3 else list(OPENPOSE_COLORS[j]))
    assert not img[:, 240:].any()  # nothing beyond the scaled pose
