"""Tiny, seeded, insightface-compatible ONNX models for offline tests.

Real insightface packs (``antelopev2``, ``buffalo_l``) cannot be downloaded in tests, and
``insightface.app.FaceAnalysis`` needs at least a detector. :func:`write_tiny_insightface` writes a
stand-in pack laid out exactly like a real one::

    <models_dir>/insightface/models/<name>/scrfd_10g_bnkps.onnx   (detector, antelopev2 naming)
    <models_dir>/insightface/models/<name>/glintr100.onnx         (recognition, antelopev2 naming)

(``det_10g.onnx`` / ``w600k_r50.onnx`` with the buffalo_l naming). Load it with
``FaceAnalysis(name=name, root=models_dir / "insightface")``; insightface's model router picks each
file's role purely from its ONNX shapes: five or more outputs make a detector (SCRFD: nine outputs are
three strides, two anchors, with keypoints), a square input of at least 112 px divisible by 16 with
exactly one output makes an ArcFace recogniser.

**Detector** (``SCRFD``, 9 outputs: strides 8/16/32, 2 anchors, keypoints; dynamic H/W). It is a
hand-made bright-blob detector, not a learnt one, so it behaves predictably. On the letterboxed
detector input, in SCRFD's input units (``(px - 127.5) / 128``):

* *contrast*: the grey level averaged over a 40x40-pixel window around each stride-8 cell, minus the
  global mean grey level;
* *blobness*: the contrast minus the largest contrast of the eight windows 32 px away (N, NE, E, ...;
  outside the image counts as the global mean);
* a stride-8 cell fires, with score ``sigmoid(25 * (blobness - 0.08))``, where its blobness is the
  maximum within 5x5 cells and above 0.08 (about 10 grey levels). The second anchor and strides 16 and
  32 always score ``sigmoid(-30)``, i.e. zero.

Consequences, with ``prepare(det_size=(128, 128))`` (what it is tuned for): constant images of any
colour and aspect ratio (letterbox padding included), linear ramps and fine noise give **no face**;
each bright blob on a darker background, from about 10% to 60% of the image's longer side across, gives
**one face** (see :func:`face_blob_image`); a much larger uniform bright area gives none (its centre is
no brighter than its surround); a photo gives a face at each bright, blob-like spot (the 512x512
``skimage.data.astronaut()``: 3 faces, best score 0.88, on the bright helmet rather than the face).
Larger det sizes see finer detail (more faces on photos, only smaller blobs), and insightface's
automatic det size (``det_size=None``: 128 and 640 merged) reports a blob twice.

Box and keypoint heads have zero weights and constant biases: boxes are 4 strides (32 px of detector
input) square, centred on the firing cell; the 5 keypoints are the ArcFace alignment template shrunk
into that box, so ``face_align.norm_crop`` is a well-conditioned, near-pure scaling.

**Recognition** (``ArcFaceONNX``): input ``(N, 3, 112, 112)``, one output ``(N, 512)``, dynamic batch;
a seeded random conv stack (tanh), so equal crops give equal embeddings, unrelated crops nearly
orthogonal ones (cosine about 0.2) and slightly shifted or brightened crops similar ones (about 0.9).

Both exports are deterministic: with the same torch/onnx versions the same seed gives byte-identical
files. The detector has no random weights; ``seed`` only drives the recognition model. Building never
touches torch's global random state.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "EMBEDDING_DIM",
    "PACK_FILE_NAMES",
    "RECOGNITION_SIZE",
    "face_blob_image",
    "tiny_arcface_onnx",
    "tiny_scrfd_onnx",
    "write_tiny_insightface",
]

Naming = Literal["antelopev2", "buffalo_l"]

#: (detector file, recognition file) as found in the real packs.
PACK_FILE_NAMES: dict[str, tuple[str, str]] = {
    "antelopev2": ("scrfd_10g_bnkps.onnx", "glintr100.onnx"),
    "buffalo_l": ("det_10g.onnx", "w600k_r50.onnx"),
}

STRIDES: tuple[int, ...] = (8, 16, 32)
NUM_ANCHORS = 2
EMBEDDING_DIM = 512
RECOGNITION_SIZE = 112
OPSET = 17

# Detector behaviour (see the module docstring). Contrast is in SCRFD input units, (px - 127.5) / 128.
BLOB_WINDOW_CELLS = 5  # brightness averaging window, in stride-8 cells (40 px of detector input)
RING_DISTANCE_CELLS = 4  # surround windows this many cells (32 px) away in 8 directions
PEAK_WINDOW_CELLS = 5  # local-maximum window, in stride-8 cells
BLOB_THRESHOLD = 0.08  # centre window this much (about 10 grey levels) brighter than every surround window
SCORE_GAIN = 25.0
NON_PEAK_PENALTY = 60.0
OFF_LOGIT = -30.0

# Box distances (left, top, right, bottom) in strides from the anchor point (the cell's top-left
# corner): a 4-stride square centred on the cell centre.
BOX_DISTANCES = (1.5, 1.5, 2.5, 2.5)
BOX_SIDE_STRIDES = BOX_DISTANCES[0] + BOX_DISTANCES[2]

# insightface's ArcFace alignment template (face_align.arcface_dst), for 112x112 crops.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)

# Recognition stack: channels of the stride-2 convolutions (112 -> 56 -> 28 -> 14 -> 7).
ARCFACE_CHANNELS = (3, 16, 32, 32, 16)


def _keypoint_offsets() -> np.ndarray:
    """Return the 10 keypoint biases (x0, y0, ..., x4, y4) in strides from the anchor point."""
    template_centre = RECOGNITION_SIZE / 2.0
    offsets = 0.5 + (ARCFACE_TEMPLATE - template_centre) / RECOGNITION_SIZE * BOX_SIDE_STRIDES
    return offsets.reshape(-1)


def _constant_head(in_channels: int, bias: np.ndarray, weight: np.ndarray | None = None) -> nn.Conv2d:
    """A 1x1 convolution with the given bias and a zero (or given) weight."""
    conv = nn.Conv2d(in_channels, len(bias), kernel_size=1)
    with torch.no_grad():
        conv.weight.zero_()
        if weight is not None:
            conv.weight.copy_(torch.as_tensor(weight, dtype=torch.float32).view_as(conv.weight))
        conv.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    return conv


class _TinySCRFD(nn.Module):
    """Bright-blob detector with SCRFD's 9-output layout (scores, boxes, keypoints per stride)."""

    def __init__(self) -> None:
        super().__init__()
        off = np.full(NUM_ANCHORS, OFF_LOGIT)
        fire = np.array([0.0] + [OFF_LOGIT] * (NUM_ANCHORS - 1))
        fire_weight = np.array([1.0] + [0.0] * (NUM_ANCHORS - 1))
        self.score_heads = nn.ModuleList(
            [_constant_head(1, fire, fire_weight)] + [_constant_head(1, off) for _ in STRIDES[1:]]
        )
        box_bias = np.tile(np.array(BOX_DISTANCES), NUM_ANCHORS)
        kps_bias = np.tile(_keypoint_offsets(), NUM_ANCHORS)
        self.box_heads = nn.ModuleList([_constant_head(1, box_bias) for _ in STRIDES])
        self.kps_heads = nn.ModuleList([_constant_head(1, kps_bias) for _ in STRIDES])
        # Eight one-hot taps: the contrast RING_DISTANCE_CELLS away in each compass direction.
        self.ring = nn.Conv2d(
            1, 8, kernel_size=3, padding=RING_DISTANCE_CELLS, dilation=RING_DISTANCE_CELLS, bias=False
        )
        taps = torch.zeros(8, 1, 3, 3)
        for channel, position in enumerate(p for p in range(9) if p != 4):
            taps[channel, 0, position // 3, position % 3] = 1.0
        with torch.no_grad():
            self.ring.weight.copy_(taps)

    @staticmethod
    def _flatten(x: torch.Tensor, width: int) -> torch.Tensor:
        # (1, anchors * width, h, w) -> (h * w * anchors, width): cell-major, anchor-minor, as SCRFD.
        return x.permute(0, 2, 3, 1).reshape(-1, width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        grey = x.mean(dim=1, keepdim=True)
        cells = F.avg_pool2d(grey, STRIDES[0], STRIDES[0])
        local = F.avg_pool2d(
            cells, BLOB_WINDOW_CELLS, stride=1, padding=BLOB_WINDOW_CELLS // 2, count_include_pad=False
        )
        # Relative to the global mean, so the zero padding of the ring convolution reads as "average".
        contrast = local - grey.mean()
        ring = self.ring(contrast).amax(dim=1, keepdim=True)
        blob = contrast - ring
        neighbourhood_max = F.max_pool2d(blob, PEAK_WINDOW_CELLS, stride=1, padding=PEAK_WINDOW_CELLS // 2)
        is_peak = (blob >= neighbourhood_max).to(x.dtype)
        logit = SCORE_GAIN * (blob - BLOB_THRESHOLD) - NON_PEAK_PENALTY * (1.0 - is_peak)
        features = [logit] + [F.avg_pool2d(cells, s // STRIDES[0], s // STRIDES[0]) for s in STRIDES[1:]]
        scores, boxes, kpss = [], [], []
        for feature, score_head, box_head, kps_head in zip(
            features, self.score_heads, self.box_heads, self.kps_heads, strict=True
        ):
            scores.append(self._flatten(torch.sigmoid(score_head(feature)), 1))
            boxes.append(self._flatten(box_head(feature), 4))
            kpss.append(self._flatten(kps_head(feature), 10))
        return (*scores, *boxes, *kpss)


class _TinyArcFace(nn.Module):
    """Seeded random conv stack: (N, 3, 112, 112) in [-1, 1] -> (N, 512)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in zip(ARCFACE_CHANNELS[:-1], ARCFACE_CHANNELS[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), nn.Tanh()]
        self.features = nn.Sequential(*layers)
        side = RECOGNITION_SIZE // 2 ** (len(ARCFACE_CHANNELS) - 1)  # 7
        pooled = (side - 3) // 2 + 1  # 3
        self.pool = nn.AvgPool2d(kernel_size=3, stride=2)
        self.fc = nn.Linear(ARCFACE_CHANNELS[-1] * pooled * pooled, EMBEDDING_DIM)
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    fan_in = module.weight[0].numel()
                    gain = 2.0 if isinstance(module, nn.Conv2d) else 1.0
                    std = (gain / fan_in) ** 0.5
                    module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.pool(self.features(x)).flatten(1)
        # Centred features keep unrelated crops far apart (cosine ~0.2) while small shifts or brightness
        # changes of one crop stay close (~0.9).
        features = features - features.mean(dim=1, keepdim=True)
        return self.fc(features)


def _export(
    model: nn.Module,
    dummy: torch.Tensor,
    input_name: str,
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
) -> bytes:
    """Export with the TorchScript exporter (opset 17) and return the ONNX bytes."""
    buffer = io.BytesIO()
    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (dynamo=False; the dynamo one needs onnxscript) warns that it is
        # deprecated; nothing else is emitted.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (dummy,),
            buffer,
            input_names=[input_name],
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def tiny_scrfd_onnx() -> bytes:
    """Return the ONNX bytes of the tiny SCRFD-shaped detector (input ``input.1``, dynamic H/W)."""
    kinds = (("score", 1), ("bbox", 4), ("kps", 10))
    output_names = [f"{kind}_{stride}" for kind, _ in kinds for stride in STRIDES]
    dynamic_axes: dict[str, dict[int, str]] = {"input.1": {2: "height", 3: "width"}}
    for kind, _ in kinds:
        for stride in STRIDES:
            dynamic_axes[f"{kind}_{stride}"] = {0: f"candidates_{stride}"}
    dummy = torch.zeros(1, 3, 128, 128)
    with torch.random.fork_rng(devices=[]):  # module construction draws default inits
        model = _TinySCRFD()
    return _export(model, dummy, "input.1", output_names, dynamic_axes)


def tiny_arcface_onnx(seed: int = 0) -> bytes:
    """Return the ONNX bytes of the tiny ArcFace-shaped recognition model for ``seed``."""
    dummy = torch.zeros(1, 3, RECOGNITION_SIZE, RECOGNITION_SIZE)
    dynamic_axes = {"input.1": {0: "batch"}, "embedding": {0: "batch"}}
    with torch.random.fork_rng(devices=[]):  # module construction draws default inits
        model = _TinyArcFace(seed)
    return _export(model, dummy, "input.1", ["embedding"], dynamic_axes)


def write_tiny_insightface(
    models_dir: Path,
    name: str = "antelopev2",
    seed: int = 0,
    *,
    naming: Naming | None = None,
) -> Path:
    """Write a tiny detector + recognition pack to ``models_dir / "insightface" / "models" / name``.

    Args:
        models_dir: the ComfyUI-style ``models`` folder (created if missing).
        name: pack name, the folder ``FaceAnalysis(name=...)`` looks for.
        seed: seed of the recognition weights (the detector is fixed).
        naming: which real pack's file names to use; by default ``"buffalo_l"`` when ``name`` is
            ``"buffalo_l"``, else ``"antelopev2"``.

    Returns:
        The pack folder. Use ``FaceAnalysis(name=name, root=models_dir / "insightface")``.
    """
    if naming is None:
        naming = "buffalo_l" if name == "buffalo_l" else "antelopev2"
    if naming not in PACK_FILE_NAMES:
        raise ValueError(f"naming must be one of {sorted(PACK_FILE_NAMES)}, got {naming!r}")
    detector_file, recognition_file = PACK_FILE_NAMES[naming]
    pack_dir = Path(models_dir) / "insightface" / "models" / name
    pack_dir.mkdir(parents=True, exist_ok=True)
    for file_name, data in ((detector_file, tiny_scrfd_onnx()), (recognition_file, tiny_arcface_onnx(seed))):
        (pack_dir / file_name).write_bytes(data)
        logger.debug("wrote %s (%d bytes)", pack_dir / file_name, len(data))
    logger.info("tiny insightface pack %r (seed %d, %s naming) in %s", name, seed, naming, pack_dir)
    return pack_dir


def face_blob_image(
    height: int = 256,
    width: int = 256,
    centres: tuple[tuple[float, float], ...] = ((0.5, 0.5),),
    sigma: float = 0.08,
    background: int = 0,
) -> np.ndarray:
    """Return a BGR ``uint8`` image with bright Gaussian blobs, each detected as one face.

    "Detected" means by the tiny detector prepared with ``det_size=(128, 128)``.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        centres: blob centres as (x, y) fractions of the width and height. Keep centres at least 40% of
            the longer image side apart (closer blobs merge into one face, or none).
        sigma: blob standard deviation as a fraction of the longer image side (0.04 to 0.25 work).
        background: grey level of the background (keep it dark: the detector wants contrast).
    """
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    spread = sigma * max(height, width)
    image = np.full((height, width), float(background))
    for cx, cy in centres:
        blob = np.exp(-((xs - cx * width) ** 2 + (ys - cy * height) ** 2) / (2.0 * spread**2))
        image = np.maximum(image, background + (255.0 - background) * blob)
    grey = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
