"""Tiny random IP-Adapter, InstantID and IP-Adapter FaceID files in the released key layouts, sized for a
tiny checkpoint, a recording "foreign" attn2-replace node, and the graphs of the injection tests.

IP-Adapter: ``image_proj.proj.{weight,bias}``, ``image_proj.norm.{weight,bias}``,
``ip_adapter.{2n+1}.to_k_ip.weight`` / ``to_v_ip.weight`` for the n-th cross-attention layer (input, output,
middle order). InstantID: the perceiver Resampler ``image_proj.*`` plus the same ``ip_adapter.*``. FaceID:
the MLP ``image_proj.proj.{0,2}.*`` + ``norm.*``, the same ``ip_adapter.*`` plus FaceID's LoRA
``ip_adapter.{N}.to_{q,k,v,out}_lora.{down,up}.weight`` on every processor ``N`` (attn1 even, attn2 odd).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.torch
import torch
from PIL import Image

from pose_models.oneposetrans.ip_adapter import cross_attention_layers

UNET_PREFIX = "model.diffusion_model."
TINY_CLIP_VISION_EMBED = 48
"""``image_embeds`` width of the tiny CLIP vision model (its projection dim)."""


def checkpoint_attn2_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """``{UNet-relative key: shape}`` of every ``attn2.to_k.weight`` of a checkpoint file."""
    with safetensors.safe_open(str(path), "pt") as f:
        return {
            k[len(UNET_PREFIX) :]: tuple(f.get_slice(k).get_shape())
            for k in f.keys()
            if k.startswith(UNET_PREFIX) and k.endswith("attn2.to_k.weight")
        }


def _layer_weights(shapes: dict[str, tuple[int, ...]], gen: torch.Generator) -> dict[str, torch.Tensor]:
    out = {}
    for layer in cross_attention_layers(shapes):
        for name in ("to_k_ip", "to_v_ip"):
            out[f"ip_adapter.{layer.adapter_key}.{name}.weight"] = (
                torch.randn(layer.inner_dim, layer.context_dim, generator=gen) / layer.context_dim**0.5
            )
    return out


def ip_adapter_state(
    shapes: dict[str, tuple[int, ...]],
    embed_dim: int = TINY_CLIP_VISION_EMBED,
    tokens: int = 4,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """A plain IP-Adapter (4 tokens) for the layers of ``shapes``."""
    gen = torch.Generator().manual_seed(seed)
    context = next(iter(shapes.values()))[1]
    state = {
        "image_proj.proj.weight": torch.randn(tokens * context, embed_dim, generator=gen) / embed_dim**0.5,
        "image_proj.proj.bias": 0.1 * torch.randn(tokens * context, generator=gen),
        "image_proj.norm.weight": 1 + 0.1 * torch.randn(context, generator=gen),
        "image_proj.norm.bias": 0.1 * torch.randn(context, generator=gen),
    }
    return {**state, **_layer_weights(shapes, gen)}


def instantid_state(
    shapes: dict[str, tuple[int, ...]],
    embed_dim: int = 512,
    dim: int = 32,
    depth: int = 2,
    heads: int = 2,
    queries: int = 16,
    mult: int = 4,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """An InstantID ``ip-adapter.bin`` layout (heads of 64 channels) for the layers of ``shapes``."""
    gen = torch.Generator().manual_seed(seed)
    context = next(iter(shapes.values()))[1]
    inner = 64 * heads

    def rnd(*size: int) -> torch.Tensor:
        return torch.randn(*size, generator=gen) / size[-1] ** 0.5

    state = {
        "image_proj.latents": torch.randn(1, queries, dim, generator=gen) / dim**0.5,
        "image_proj.proj_in.weight": rnd(dim, embed_dim),
        "image_proj.proj_in.bias": rnd(dim),
        "image_proj.proj_out.weight": rnd(context, dim),
        "image_proj.proj_out.bias": rnd(context),
        "image_proj.norm_out.weight": 1 + rnd(context),
        "image_proj.norm_out.bias": rnd(context),
    }
    for i in range(depth):
        p = f"image_proj.layers.{i}"
        for norm in (f"{p}.0.norm1", f"{p}.0.norm2", f"{p}.1.0"):
            state[f"{norm}.weight"], state[f"{norm}.bias"] = 1 + rnd(dim), rnd(dim)
        state.update(
            {
                f"{p}.0.to_q.weight": rnd(inner, dim),
                f"{p}.0.to_kv.weight": rnd(2 * inner, dim),
                f"{p}.0.to_out.weight": rnd(dim, inner),
                f"{p}.1.1.weight": rnd(mult * dim, dim),
                f"{p}.1.3.weight": rnd(dim, mult * dim),
            }
        )
    return {**state, **_layer_weights(shapes, gen)}


def faceid_state(
    shapes: dict[str, tuple[int, ...]],
    embed_dim: int = 512,
    tokens: int = 4,
    lora_rank: int = 4,
    plus: bool = False,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """An IP-Adapter FaceID ``ip-adapter-faceid_*.bin`` layout (MLP hidden width ``2 * embed_dim``, as the
    release) for the layers of ``shapes``; ``lora_rank=0`` leaves out the LoRA keys (the Portrait layout);
    ``plus`` adds FaceID Plus's ``perceiver_resampler.*`` (a few of its real keys)."""
    gen = torch.Generator().manual_seed(seed)
    context = next(iter(shapes.values()))[1]
    hidden = 2 * embed_dim

    def rnd(*size: int) -> torch.Tensor:
        return torch.randn(*size, generator=gen) / size[-1] ** 0.5

    state = {
        "image_proj.proj.0.weight": rnd(hidden, embed_dim),
        "image_proj.proj.0.bias": rnd(hidden),
        "image_proj.proj.2.weight": rnd(tokens * context, hidden),
        "image_proj.proj.2.bias": rnd(tokens * context),
        "image_proj.norm.weight": 1 + rnd(context),
        "image_proj.norm.bias": rnd(context),
    }
    if plus:
        state.update(
            {
                "image_proj.perceiver_resampler.proj_in.weight": rnd(context, 48),
                "image_proj.perceiver_resampler.proj_in.bias": rnd(context),
                "image_proj.perceiver_resampler.proj_out.weight": rnd(context, context),
                "image_proj.perceiver_resampler.norm_out.weight": 1 + rnd(context),
            }
        )
    layers = _layer_weights(shapes, gen)
    if lora_rank:
        for layer in cross_attention_layers(shapes):
            n = int(layer.adapter_key)
            for processor, kv_in in ((n - 1, layer.inner_dim), (n, layer.context_dim)):
                for name, width_in in (("to_q", layer.inner_dim), ("to_k", kv_in), ("to_v", kv_in)):
                    layers[f"ip_adapter.{processor}.{name}_lora.down.weight"] = rnd(lora_rank, width_in)
                    layers[f"ip_adapter.{processor}.{name}_lora.up.weight"] = rnd(layer.inner_dim, lora_rank)
                layers[f"ip_adapter.{processor}.to_out_lora.down.weight"] = rnd(lora_rank, layer.inner_dim)
                layers[f"ip_adapter.{processor}.to_out_lora.up.weight"] = rnd(layer.inner_dim, lora_rank)
    return {**state, **layers}


def save_release_bin(state: dict[str, torch.Tensor], path: Path) -> Path:
    """Save as the releases' ``.bin``: ``{"image_proj": {...}, "ip_adapter": {...}}`` (torch.save)."""
    nested: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        nested[part][rest] = value.contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(nested, path)
    return path


def save_flat(state: dict[str, torch.Tensor], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


BUFFALO_L_SEED = 1
"""Seed of the tiny buffalo_l pack's recognition model: not antelopev2's, so the two packs give different
embeddings of the same face (a test sees which pack was used)."""


def write_tiny_buffalo_l(models_dir: Path) -> Path:
    """The tiny insightface pack ``models/insightface/models/buffalo_l`` (its file names; written once)."""
    from tiny_models.insightface_models import write_tiny_insightface

    pack = Path(models_dir) / "insightface" / "models" / "buffalo_l"
    if not any(pack.glob("*.onnx")):
        write_tiny_insightface(Path(models_dir), "buffalo_l", BUFFALO_L_SEED)
    return pack


def write_blob_source(folder: Path, name: str, with_face: bool) -> str:
    """A 128 px RGB image: one bright blob (the tiny detector's "face") or plain grey (no face)."""
    if with_face:
        from tiny_models.insightface_models import face_blob_image

        rgb = face_blob_image(128, 128, sigma=0.1)[:, :, ::-1]
    else:
        rgb = np.full((128, 128, 3), 90, np.uint8)
    Image.fromarray(np.ascontiguousarray(rgb)).save(folder / name)
    return name


class Attn2Recorder:
    """A foreign attn2 replace: plain attention of what it gets; records ``((kind, id, depth), q, k, v,
    cond_or_uncond)`` per call in ``calls``."""

    calls: list[tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, list[int]]] = []

    def __init__(self, key: Any) -> None:
        self.key = key

    def __call__(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra: dict[str, Any]
    ) -> torch.Tensor:
        from comfy.ldm.modules.attention import optimized_attention

        key = (*self.key, extra.get("block_index", 0))
        Attn2Recorder.calls.append((key, q.clone(), k.clone(), v.clone(), list(extra["cond_or_uncond"])))
        return optimized_attention(
            q, k, v, extra["n_heads"], attn_precision=extra.get("attn_precision"), transformer_options=extra
        )


class ForeignAttn2Node:
    """V1 test node ``PTTest_ForeignAttn2``: a clone of MODEL with :class:`Attn2Recorder` on every
    cross-attention block, under the host's per-block key ``(kind, id)`` (what older packs use)."""

    RETURN_TYPES = ("MODEL",)
    FUNCTION = "patch"
    CATEGORY = "testing"

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:  # noqa: N802 - host API name
        return {"required": {"model": ("MODEL",)}}

    def patch(self, model: Any) -> tuple[Any]:
        patched = model.clone()
        unet = model.get_model_object("diffusion_model")
        shapes = {
            f"{n}.weight": tuple(m.weight.shape) for n, m in unet.named_modules() if n.endswith("attn2.to_k")
        }
        for key in {layer.patch_key[:2] for layer in cross_attention_layers(shapes)}:
            patched.set_model_attn2_replace(Attn2Recorder(key), key[0], key[1])
        return (patched,)


def sampler_graph(
    ckpt: str,
    model: list[Any],
    caption: str = "A woman with face, a red dress",
    seed: int = 5,
    steps: int = 1,
) -> dict[str, Any]:
    """Checkpoint + a KSampler (``sample``, 64 px, CFG 5) on ``model``, previewed as a text (PreviewAny)."""
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": caption, "clip": ["ckpt", 1]}},
        "neg": {
            "class_type": "CLIPTextEncode",
            "inputs": {"text": "low quality, bad quality", "clip": ["ckpt", 1]},
        },
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 2}},
        "sample": {
            "class_type": "KSampler",
            "inputs": {
                "model": model,
                "seed": seed,
                "steps": steps,
                "cfg": 5.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["pos", 0],
                "negative": ["neg", 0],
                "latent_image": ["latent", 0],
                "denoise": 1.0,
            },
        },
        "out": {"class_type": "PreviewAny", "inputs": {"source": ["sample", 0]}},
    }
