"""Recurrent part-wise pose alignment: warp a source person image onto target poses.

:func:`align_pose` is the entry point (see its docstring for the tensor contract). Steps per target:

1. Scale the source and target poses from their canvases to the image (``x * W / canvas_width``, ``y * H /
   canvas_height``, as :func:`pose_models.pose.scale_to_canvas`; letterbox with ``fit_to_canvas`` first
   if the aspect ratios differ) and take person ``person`` of each.
2. Source part masks (:mod:`.masks`): a partition of the source person into :data:`PART_NAMES` from the
   keypoint shapes alone, or from parser groups split by those shapes.
3. Part maps (:mod:`.transforms`) through ``steps`` intermediate poses (:func:`path_maps`).
4. Each part's premultiplied layer (source image x part mask, and the mask) is pulled back through its
   map with one bilinear ``grid_sample`` (:mod:`.warp`), and the layers are composited back to front.

Recurrent steps (``steps = K``)
-------------------------------
The part masks are *carried* from the source through the poses ``0 -> 1 -> ... -> K`` (interpolated bone
angles and lengths), never recomputed on an intermediate or the target pose: the map of a part is the
composition of its ``K`` per-step maps. Each part is carried as its own layer (the source image times its
mask), so warping the layers step by step and compositing them at every pose would give, at the target
pose, exactly the layers that one ``grid_sample`` through the composed maps gives, only with ``K``
resamplings of blur and with texture lost wherever a layer left the canvas at an intermediate pose. So
the layers are pulled back through the composed maps once and composited once, at the target pose.

How this differs from one direct warp (``K = 1``), stated exactly:

* **Limbs: no difference.** A similarity is fixed by two point pairs, so the composed per-step limb maps
  equal the direct map (tested): a limb's texture lands in the same place for every ``K``.
* **Torso and head** follow the path: their least-squares fits are made between consecutive
  intermediate poses, so when the torso/head keypoints deform in a way no single affine explains (a turn,
  a noisy detection) the result depends on ``K``; for a rotation (under 180 degrees), uniform scaling
  and translation of the whole pose it does not (every intermediate pose is then a similar copy).
* **Occlusion order** is the fixed back-to-front order at the target pose, for every ``K``. Layers are
  carried per part rather than as one composited image: carrying the composite (each step sampling
  the previous step's picture) would turn every transient occlusion into lost texture, e.g. a hand
  sweeping over the torso would leave a trail of holes (or of hand colour) on it.
* **Tearing** at the joints is avoided for every ``K`` by the shapes, not by the steps: the distal part
  owns the round cap around its proximal joint (:mod:`.parts`), which turns onto itself.

So with rigid part maps ``K > 1`` is a refinement for the torso and head only; a recurrence that changes
more needs a non-rigid (e.g. learned) step, which is out of scope.

Missing joints
--------------
Maps use only the joints visible in both the source and the target. A part is **skipped** (listed in
:attr:`AlignResult.skipped`, its output mask all zero) when its shape cannot be built on the source or
its map cannot be fitted (:mod:`.parts`, :mod:`.transforms`: a limb needs both joints, the torso and the
head two of their joints). Other parts are unaffected:

* a part that has a source shape but no map (e.g. the target lacks the wrist) still claims its source
  pixels, which are then left out of the result (uncovered), so no stale copy stays behind and no
  other part drags them along;
* a part without a source shape (e.g. the source lacks the elbow) claims nothing: its pixels belong to
  whatever part's shape contains them (with a parser, also to the nearest part within ``reach``) or to
  none.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..pose.errors import PoseFormatError
from ..pose.keypoints import PoseFrame, require_person
from ..pose.ops import broadcast_frames, scale_to_canvas
from .masks import PARSER_GROUPS, parsing_part_masks, shape_part_masks
from .parts import PART_NAMES, PartShape, PartShapeSettings, part_shapes, reference_length
from .transforms import IDENTITY, invert, path_maps
from .warp import composite, warp_layers

logger = logging.getLogger(__name__)

MAX_STEPS = 64
"""Largest ``steps`` accepted."""


@dataclass(frozen=True)
class AlignResult:
    """Output of :func:`align_pose`; ``B`` = batch size, ``P = len(part_names)``.

    * ``image``: ``[B, H, W, 3]`` in ``[0, 1]``, the input image's dtype and device; colour where parts
      landed, ``background`` elsewhere (blended by ``coverage`` at soft edges:
      ``image = colour * coverage + background * (1 - coverage)``).
    * ``coverage``: ``[B, H, W]`` in ``[0, 1]``, 1 where some part landed (the inpainting "keep" mask).
    * ``part_masks``: ``[B, P, H, W]`` in ``[0, 1]``, each part's visible share of the result, in
      ``part_names`` order (:data:`PART_NAMES`, back to front); they sum to ``coverage``.
    * ``skipped``: per batch item, the names of the parts left out for missing joints.
    """

    image: torch.Tensor
    coverage: torch.Tensor
    part_masks: torch.Tensor
    skipped: tuple[tuple[str, ...], ...]
    part_names: tuple[str, ...] = PART_NAMES


def align_pose(image: torch.Tensor, source_pose: PoseFrame | Sequence[PoseFrame],
               target_pose: PoseFrame | Sequence[PoseFrame], *, steps: int = 1,
               parsing: Mapping[str, torch.Tensor] | None = None,
               settings: PartShapeSettings | None = None, person: int = 0,
               background: float = 0.0) -> AlignResult:
    """Warp the person in ``image`` from ``source_pose`` onto each target pose, part by part.

    Args:
        image: ``[B_s, H, W, 3]`` float RGB in ``[0, 1]`` (host ``IMAGE`` layout), any device. Computation
            runs on its device in float32 (float64 for float64 input); outputs have its dtype.
        source_pose: one frame, or ``B_s`` frames (one per image), in pixels of their own canvas.
        target_pose: one frame or ``B_t`` frames. Batch ``B = B_t`` when ``B_s == 1`` (many targets share
            one source), else ``B = B_s`` with ``B_t`` equal to 1 or ``B_s``.
        steps: ``K`` pose steps from source to target, 1 to :data:`MAX_STEPS`; 1 = direct warp (see the
            module docstring).
        parsing: optional parser groups (names from :data:`~pose_models.pose_align.masks.PARSER_GROUPS`),
            each ``[H', W']`` or ``[B_s, H', W']`` (or ``[1, H', W']``) in ``[0, 1]``, resized bilinearly
            to ``H x W``. Without it the part masks are the keypoint shapes alone.
        settings: part shape sizes (:class:`PartShapeSettings`; defaults when ``None``).
        person: index of the person in every frame.
        background: grey level in ``[0, 1]`` where no part landed (0 keeps ``image`` premultiplied by
            ``coverage``, ready to be composited over anything).

    Raises:
        ValueError: bad tensor shapes, batch sizes or settings (:class:`~pose_models.pose.PoseFormatError`,
            a ``ValueError``, for pose problems such as a frame without that person).
    """
    settings = PartShapeSettings() if settings is None else settings
    _check_args(image, steps, background)
    count, height, width, _ = image.shape
    work = torch.float64 if image.dtype == torch.float64 else torch.float32
    pixels = image.to(work).permute(0, 3, 1, 2)  # [B_s, 3, H, W]
    sources = broadcast_frames(_frames(source_pose), count, what="source poses")
    targets = _frames(target_pose)
    batch = len(targets) if count == 1 else count
    targets = broadcast_frames(targets, batch, what="target poses")
    groups = None if parsing is None else _parser_groups(parsing, count, height, width, work, image.device)

    source_cache: dict[int, tuple[np.ndarray, dict[str, PartShape], torch.Tensor]] = {}
    images, coverages, masks, skipped = [], [], [], []
    for b in range(batch):
        s = 0 if count == 1 else b
        if s not in source_cache:
            source_cache[s] = _source_parts(pixels[s], sources[s], groups, s, person, settings)
        body, shapes, layers = source_cache[s]
        target = require_person(scale_to_canvas(targets[b], width, height), person,
                                what="pose alignment", label=f"target pose {b}", min_joints=2).body
        maps = path_maps(body, target, steps, width, height, [n for n in PART_NAMES if n in shapes])
        keep = [maps.get(name) is not None for name in PART_NAMES]
        if not any(keep):
            raise PoseFormatError(
                f"pose alignment: source pose {s} and target pose {b} share no body part with both joints "
                "visible, so nothing of the source can be placed (the result would be flat background). "
                "Use poses of the same person type with the torso and limbs detected.")
        inverse = np.stack([invert(maps[n]) if k else IDENTITY
                            for n, k in zip(PART_NAMES, keep, strict=True)])
        kept = torch.tensor(keep, device=image.device, dtype=work)[:, None, None, None]
        colour, coverage, visible = composite(warp_layers(layers * kept, inverse))
        images.append(colour + (1.0 - coverage) * background)
        coverages.append(coverage)
        masks.append(visible)
        skipped.append(tuple(n for n, k in zip(PART_NAMES, keep, strict=True) if not k))
        if skipped[-1]:
            logger.info("pose alignment, item %d: skipped parts without joints: %s", b,
                        ", ".join(skipped[-1]))
    return AlignResult(
        image=torch.stack(images).clamp(0.0, 1.0).permute(0, 2, 3, 1).to(image.dtype),
        coverage=torch.stack(coverages).to(image.dtype),
        part_masks=torch.stack(masks).to(image.dtype),
        skipped=tuple(skipped),
    )


def _source_parts(pixels: torch.Tensor, frame: PoseFrame, groups: Mapping[str, torch.Tensor] | None,
                  index: int, person: int, settings: PartShapeSettings
                  ) -> tuple[np.ndarray, dict[str, PartShape], torch.Tensor]:
    """Source body ``[18, 3]`` (image px), part shapes, and premultiplied layers ``[P, 4, H, W]``."""
    _, height, width = pixels.shape
    body = require_person(scale_to_canvas(frame, width, height), person, what="pose alignment",
                          label=f"source pose {index}", min_joints=2).body
    shapes = part_shapes(body, settings, height)
    if groups is None:
        part_masks = shape_part_masks(shapes, height, width, pixels.device, pixels.dtype)
    else:
        item = {name: m[0 if m.shape[0] == 1 else index] for name, m in groups.items()}
        part_masks = parsing_part_masks(item, shapes, settings.reach * reference_length(body, height))
    layers = torch.cat([pixels[None] * part_masks[:, None], part_masks[:, None]], dim=1)
    return body, shapes, layers


def _frames(poses: PoseFrame | Sequence[PoseFrame]) -> list[PoseFrame]:
    frames = [poses] if isinstance(poses, PoseFrame) else list(poses)
    if not frames or not all(isinstance(f, PoseFrame) for f in frames):
        raise PoseFormatError("pose alignment: poses must be a PoseFrame or a non-empty sequence of "
                              "PoseFrames.")
    return frames


def _check_args(image: torch.Tensor, steps: int, background: float) -> None:
    if not isinstance(image, torch.Tensor) or image.ndim != 4 or image.shape[-1] != 3 \
            or not image.is_floating_point() or min(image.shape) < 1:
        shape = list(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"pose alignment: image must be a float tensor [B, H, W, 3] (host IMAGE), "
                         f"got {shape}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"pose alignment: steps must be an integer from 1 to {MAX_STEPS}, got {steps!r}.")
    if isinstance(background, bool) or not isinstance(background, (int, float)) or not 0 <= background <= 1:
        raise ValueError(f"pose alignment: background must be a number in [0, 1], got {background!r}.")


def _parser_groups(parsing: Mapping[str, torch.Tensor], count: int, height: int, width: int,
                   dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """Parser groups as ``[1 or B_s, H, W]`` tensors of ``dtype`` on ``device``."""
    unknown = sorted(set(parsing) - set(PARSER_GROUPS))
    if unknown or not parsing:
        raise ValueError(f"pose alignment: parsing groups must be a non-empty subset of {PARSER_GROUPS}; "
                         f"unknown: {unknown}.")
    out = {}
    for name, mask in parsing.items():
        m = torch.as_tensor(mask)
        m = m[None] if m.ndim == 2 else m
        if m.ndim != 3 or m.shape[0] not in (1, count) or min(m.shape) < 1:
            raise ValueError(f"pose alignment: parsing group {name!r} must be [H, W] or [{count}, H, W], "
                             f"got {list(m.shape)}.")
        m = m.to(device=device, dtype=dtype)
        if tuple(m.shape[1:]) != (height, width):
            m = F.interpolate(m[:, None], size=(height, width), mode="bilinear", align_corners=False)[:, 0]
        out[name] = m.clamp(0.0, 1.0)
    return out
