"""Fuzz the pose readers: random and mutated files and values may only end in a clean PoseFormatError
(or a successful read), never another exception, a hang or a silent bool-as-number.

Seeded and deterministic: each case is built from a named seed, so a failure names the case to replay.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pose_models.pose import PoseFormatError, from_pose_keypoint, load_poses
from pose_models.pose.deepfashion import DEEPFASHION_HEADER

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO / "workflows" / "poses" / "standing_front.json").read_text())
CSV_ROW = "a.jpg:[36, 82, 81, 140, 190, 82, 140, 190, 188, 262, -1, 188, 260, -1, 30, 30, 35, 35]:" \
          "[88, 90, 64, 58, 60, 116, 120, 122, 72, 74, -1, 104, 106, -1, 84, 92, 76, 100]"
CASES = 400

ODD_VALUES: list[Any] = [
    None, True, False, 0, -1, 1e308, -1e308, float("nan"), float("inf"), "", "x", "1", [], {}, [[]],
    [True] * 54, [1.0] * 53, [[1, 2]] * 18, {"people": []}, 2**70, -0.0,
]


def mutate_value(value: Any, rng: random.Random, depth: int = 0) -> Any:
    """A copy of ``value`` with one random leaf or container replaced, deleted or duplicated."""
    if isinstance(value, dict) and value and depth < 6:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.15:
            del out[key]
        elif roll < 0.3:
            out[key] = rng.choice(ODD_VALUES)
        else:
            out[key] = mutate_value(value[key], rng, depth + 1)
        return out
    if isinstance(value, list) and value and depth < 6:
        out = list(value)
        i = rng.randrange(len(out))
        roll = rng.random()
        if roll < 0.15:
            del out[i]
        elif roll < 0.25:
            out.insert(i, copy.deepcopy(out[i]))
        elif roll < 0.45:
            out[i] = rng.choice(ODD_VALUES)
        else:
            out[i] = mutate_value(value[i], rng, depth + 1)
        return out
    return rng.choice(ODD_VALUES)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.2:
        return data[: rng.randrange(len(data) + 1)]  # truncated download
    if roll < 0.3:
        return b"\xef\xbb\xbf" + data  # BOM
    if roll < 0.4:
        return data.decode("utf-8").encode("utf-16")  # not UTF-8
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(buf))
        if rng.random() < 0.5:
            buf[pos] = rng.randrange(256)
        else:
            buf[pos:pos] = rng.choice([b"[", b"]", b"{", b"}", b",", b"\"", b"9e999", b"\x00", b"true"])
    return bytes(buf)


def read_file(path: Path) -> None:
    try:
        load_poses(path, canvas_size=(512, 768))
    except PoseFormatError:
        pass


@pytest.mark.parametrize("chunk", range(4))
def test_mutated_json_files_fail_cleanly(tmp_path: Path, chunk: int) -> None:
    base = json.dumps(EXAMPLE).encode()
    for case in range(chunk * CASES // 4, (chunk + 1) * CASES // 4):
        rng = random.Random(f"json-{case}")
        if rng.random() < 0.5:
            data = json.dumps(mutate_value(EXAMPLE, rng), allow_nan=True).encode()
        else:
            data = mutate_bytes(base, rng)
        path = tmp_path / f"case{case}.json"
        path.write_bytes(data)
        try:
            read_file(path)
        except Exception as exc:  # noqa: BLE001 (the point of the test)
            pytest.fail(f"json case {case}: {type(exc).__name__}: {exc}")


def test_mutated_csv_files_fail_cleanly(tmp_path: Path) -> None:
    base = f"{DEEPFASHION_HEADER}\n{CSV_ROW}\n".encode()
    for case in range(CASES // 2):
        rng = random.Random(f"csv-{case}")
        path = tmp_path / f"case{case}.csv"
        path.write_bytes(mutate_bytes(base, rng))
        try:
            read_file(path)
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"csv case {case}: {type(exc).__name__}: {exc}")


def test_random_values_fail_cleanly() -> None:
    for case in range(CASES):
        rng = random.Random(f"value-{case}")
        value = mutate_value([EXAMPLE], rng)
        try:
            from_pose_keypoint(value, canvas_size=(64, 64))
        except PoseFormatError:
            pass
        except Exception as exc:  # noqa: BLE001
            pytest.fail(f"value case {case}: {type(exc).__name__}: {exc}")


@pytest.mark.parametrize("raw", [
    [True] * 54,
    [[True, 2, 1]] * 18,
    [1.0] * 51 + [True, 1.0, 1.0],
])
def test_booleans_are_not_coordinates(raw: list) -> None:
    """JSON ``true`` is not the number 1: a pose holding one is refused, naming the part."""
    with pytest.raises(PoseFormatError, match="pose_keypoints_2d.*true/false"):
        from_pose_keypoint({"people": [{"pose_keypoints_2d": raw}], "canvas_width": 64, "canvas_height": 64})


def test_deeply_nested_and_huge_inputs(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PoseFormatError, match="nested"):
        load_poses(deep)
    with pytest.raises(PoseFormatError, match="nested"):
        from_pose_keypoint("[" * 100_000 + "]" * 100_000)
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    with pytest.raises(PoseFormatError, match="empty"):
        load_poses(empty)
    binary = tmp_path / "image.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(PoseFormatError, match="PNG image"):
        load_poses(binary)


def test_bom_and_utf16_files_read(tmp_path: Path) -> None:
    """A BOM (Notepad's UTF-8 with BOM, UTF-16) does not stop a valid file from reading."""
    text = json.dumps(EXAMPLE)
    for name, data in (("bom.json", b"\xef\xbb\xbf" + text.encode()), ("utf16.json", text.encode("utf-16"))):
        path = tmp_path / name
        path.write_bytes(data)
        (named,) = load_poses(path)
        assert np.allclose(named.frame.people[0].body[0, :2], EXAMPLE["people"][0]["pose_keypoints_2d"][:2])
    csv = tmp_path / "bom.csv"
    csv.write_bytes(b"\xef\xbb\xbf" + f"{DEEPFASHION_HEADER}\n{CSV_ROW}\n".encode())
    assert len(load_poses(csv)) == 1
