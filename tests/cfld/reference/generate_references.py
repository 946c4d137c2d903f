"""Generate the CFLD parity references by running the UNMODIFIED official code (YanzuoLu/CFLD).

Run it in a separate throwaway venv that has the official code's dependencies (torch 2.13.0 CPU,
diffusers==0.19.3, huggingface_hub<0.26, yacs, einops, numpy, opencv-python-headless, Pillow; no
torchvision, timm, xformers, accelerate, transformers or scipy needed)::

    /tmp/cfld_ref/venv/bin/python tests/cfld/reference/generate_references.py --official /tmp/cfld_src

``--official`` is a checkout of github.com/YanzuoLu/CFLD (its files are imported, never edited or copied).
Run-time substitutions, all outside the official files:

* ``xformers.ops.memory_efficient_attention`` -> ``torch.nn.functional.scaled_dot_product_attention``
  (same maths; xformers needs CUDA), and the xformers switch sets the official processors without
  the CUDA check;
* ``timm.models.layers`` -> ``DropPath`` (identity in eval), ``to_2tuple``, ``trunc_normal_``;
* training/metric-only imports (accelerate, torchvision, scipy, transformers, the dataset module) ->
  empty stand-ins; the sampling function receives a no-op accelerator and a VAE that records the latents;
* the UNet's ``from_pretrained`` builds the tiny configuration below; the DDPM scheduler's noise draw
  returns the injected per-step noise.

All weights, the source images, the initial latents and the per-step noise come from
``deterministic.py`` (name-hashed, identical in both venvs); the zero-initialised HGA convolutions are
therefore random too. Output: ``cfld_tiny_reference.safetensors`` (stage outputs, float32) and
``cfld_tiny_keys.json`` (official state-dict keys and shapes of the tiny release pair).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import hashlib
import importlib
import json
import logging
import math
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import deterministic  # noqa: E402
from tiny_inputs import (  # noqa: E402
    APPEARANCE_SCALE,
    KEYPOINTS_YX,
    LATENT_SIDE,
    PIPELINE_POSES,
    POSE_SCALE,
    SOURCE_SIDE,
    STEPS,
    TIMESTEPS,
    initial_latents,
    noisy_latents,
    source_images,
    step_noise,
)

logger = logging.getLogger("cfld.generate_references")

TINY_UNET = {
    "sample_size": LATENT_SIDE,
    "block_out_channels": (32, 32, 64, 64),
    "layers_per_block": 2,
    "cross_attention_dim": 64,
    "attention_head_dim": 8,
}

def tiny_cfg(cfg):
    """The official default config, shrunk (same structure: 4 Swin stages, 9 HGA branches, 3 pose levels)."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.INPUT.COND.IMG_SIZE = [SOURCE_SIDE, SOURCE_SIDE]
    cfg.INPUT.POSE.IMG_SIZE = [SOURCE_SIDE, SOURCE_SIDE]
    cfg.INPUT.GT.IMG_SIZE = [SOURCE_SIDE * 2, SOURCE_SIDE * 2]
    cfg.INPUT.COND.PRED_RATIO = []
    cfg.MODEL.COND_STAGE_CONFIG.PRETRAINED_PATH = ""
    cfg.MODEL.COND_STAGE_CONFIG.EMBED_DIM = 16
    cfg.MODEL.COND_STAGE_CONFIG.DEPTHS = [2, 2, 2, 2]
    cfg.MODEL.COND_STAGE_CONFIG.NUM_HEADS = [1, 2, 2, 4]
    cfg.MODEL.COND_STAGE_CONFIG.WINDOW_SIZE = 4  # stages 1-2 shifted, stage 3 one window, stage 4 clamped
    cfg.MODEL.APPEARANCE_GUIDANCE_CONFIG.INNER_DIMS = [16] * 3 + [32] * 3 + [64] * 3
    cfg.MODEL.APPEARANCE_GUIDANCE_CONFIG.EMBED_DIMS = [32] * 6 + [64] * 3
    cfg.MODEL.APPEARANCE_GUIDANCE_CONFIG.HEADS = [1] * 6 + [2] * 3  # head width 32, as in the release
    cfg.MODEL.APPEARANCE_GUIDANCE_CONFIG.CTX_DIMS = [32] * 6 + [64] * 3
    cfg.MODEL.APPEARANCE_GUIDANCE_CONFIG.DEPTH = 2
    cfg.MODEL.POSE_GUIDANCE_CONFIG.IN_CHANNELS = 32
    cfg.MODEL.POSE_GUIDANCE_CONFIG.CHANNELS = [32, 32, 64]
    cfg.MODEL.DECODER_CONFIG.N_CTX = 4
    cfg.MODEL.DECODER_CONFIG.CTX_DIM = 64
    cfg.MODEL.DECODER_CONFIG.DEPTH = 2
    cfg.MODEL.DECODER_CONFIG.HEADS = 2
    cfg.TEST.NUM_INFERENCE_STEPS = STEPS
    cfg.TEST.GUIDANCE_TYPE = "uc_down_full"
    cfg.TEST.DOWN_BLOCK_GUIDANCE_SCALE = POSE_SCALE
    cfg.TEST.FULL_GUIDANCE_SCALE = APPEARANCE_SCALE
    cfg.freeze()
    return cfg


# ----------------------------------------------------------------------------------------------- stand-ins
def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    sys.modules[name] = mod
    return mod


def _sdpa_memory_efficient_attention(query, key, value, attn_bias=None, op=None, scale=None):
    """xformers' ``memory_efficient_attention`` on ``[batch*heads, tokens, dim]`` tensors, via SDPA."""
    return F.scaled_dot_product_attention(query, key, value, attn_mask=attn_bias, scale=scale)


class _DropPath(torch.nn.Module):
    def __init__(self, drop_prob=0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if self.training and self.drop_prob > 0:
            raise RuntimeError("stochastic depth is not used by the reference generator")
        return x


def _to_2tuple(x):
    return tuple(x) if isinstance(x, list | tuple) else (x, x)


class _NoOpAccelerator:
    device = torch.device("cpu")

    @staticmethod
    def autocast():
        return contextlib.nullcontext()


class _RecordingVAE:
    """Stands in for the VAE at the end of the official ``sample``: keeps the final latents."""

    latents: torch.Tensor | None = None

    def decode(self, z):
        self.latents = z.clone()
        return z


def install_stand_ins(official: Path) -> dict[str, types.ModuleType]:
    """Import the official modules with the substitutions listed in the module docstring."""
    # diffusers probes for optional packages at import and imports what it finds: import it before the
    # stand-ins exist, with the optional packages the official code never uses hidden (a None entry reads
    # as "not installed"), so that newer releases of them beside the pinned diffusers are never imported.
    for name in ("transformers", "accelerate", "jax", "flax", "onnxruntime"):
        sys.modules.setdefault(name, None)
    import diffusers.models.attention_processor as attention_processor
    import diffusers.schedulers.scheduling_ddpm as scheduling_ddpm

    xformers = _module("xformers")
    xformers.ops = _module("xformers.ops", memory_efficient_attention=_sdpa_memory_efficient_attention)
    _module("timm")
    _module("timm.models")
    _module("timm.models.layers", DropPath=_DropPath, to_2tuple=_to_2tuple,
            trunc_normal_=torch.nn.init.trunc_normal_)
    _module("transformers", CLIPVisionModel=None)
    _module("accelerate", Accelerator=None)
    _module("accelerate.tracking", TensorBoardTracker=None, WandBTracker=None)
    _module("accelerate.utils", set_seed=None, DistributedDataParallelKwargs=None)
    _module("scipy")
    _module("scipy.linalg", sqrtm=None)
    _module("torchvision")
    _module("torchvision.utils", make_grid=None)
    _module("datasets", FidRealDeepFashion=None, PisTestDeepFashion=None, PisTrainDeepFashion=None)

    sys.path.insert(0, str(official))
    models = _module("models")
    models.__path__ = [str(official / "models")]
    submodules = {name: importlib.import_module(f"models.{name}") for name in
                  ("swin_transformer", "appearance_encoder", "pose_encoder", "decoder", "unet")}
    models.build_backbone = submodules["swin_transformer"].build_backbone
    models.AppearanceEncoder = submodules["appearance_encoder"].AppearanceEncoder
    models.PoseEncoder = submodules["pose_encoder"].PoseEncoder
    models.Decoder = submodules["decoder"].Decoder
    models.UNet = submodules["unet"].UNet
    models.VariationalAutoencoder = None
    models.build_metric = None

    unet_module = submodules["unet"]
    attention_processor.xformers = xformers
    unet_module.xformers = xformers

    def use_xformers(self, use, attention_op=None):
        if not use:
            raise RuntimeError("the official modules always switch xformers on")
        if isinstance(self, unet_module.ResidualAttention):
            self.set_processor(unet_module.ResidualXFormersAttnProcessor(attention_op=attention_op))
        else:
            self.set_processor(attention_processor.XFormersAttnProcessor(attention_op=attention_op))

    attention_processor.Attention.set_use_memory_efficient_attention_xformers = use_xformers
    unet_module.ResidualAttention.set_use_memory_efficient_attention_xformers = use_xformers

    def tiny_from_pretrained(cls, path, **kwargs):
        return cls(**TINY_UNET)

    unet_module.ResidualUNet2DConditionModel.from_pretrained = classmethod(tiny_from_pretrained)

    return {"unet": unet_module, "scheduling_ddpm": scheduling_ddpm,
            "pose_utils": importlib.import_module("pose_utils"),
            "defaults": importlib.import_module("defaults"),
            "train": importlib.import_module("pose_transfer_train"),
            "test": importlib.import_module("pose_transfer_test")}


# ---------------------------------------------------------------------------------------------- inputs
def official_pose_image(pose_utils, keypoints_yx: np.ndarray, side: int) -> tuple[np.ndarray, torch.Tensor]:
    """The official ``build_pose_img`` body: (skeleton uint8 [side, side, 3], pose input [21, side, side])."""
    size = (side, side)
    pose_map = torch.tensor(pose_utils.cords_to_map(keypoints_yx.copy(), size, (256, 176)).transpose(2, 0, 1),
                            dtype=torch.float32)
    skeleton = pose_utils.draw_pose_from_cords(keypoints_yx.copy(), size, (256, 176))
    pose_img = torch.tensor(skeleton.transpose(2, 0, 1) / 255., dtype=torch.float32)
    return skeleton, torch.cat([pose_img, pose_map], dim=0)


def digest(tensor: torch.Tensor) -> torch.Tensor:
    """sha256 of a float32 tensor's bytes as ``uint8 [32]``."""
    raw = hashlib.sha256(tensor.contiguous().to(torch.float32).numpy().tobytes()).digest()
    return torch.tensor(list(raw), dtype=torch.uint8)


# ---------------------------------------------------------------------------------------------- models
def build_official(mods):
    """The official conditioning model and UNet wrapper of the tiny config, deterministic weights."""
    cfg = tiny_cfg(mods["defaults"].pose_transfer_C)
    model = mods["train"].build_model(cfg).eval()
    unet = mods["unet"].UNet(cfg).eval()
    for module in (model, unet):
        shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        missing, unexpected = module.load_state_dict(deterministic.fill_state_dict(shapes), strict=False)
        assert not unexpected and all(k.rsplit(".", 1)[-1] in deterministic.RECOMPUTED_BUFFERS
                                      for k in missing), (missing, unexpected)
    return cfg, model, unet


def three_branch_inputs(c, down, up, latents):
    """Exactly the batching of the official ``uc_down_full`` branch of ``sample``."""
    bsz = latents.shape[0]
    c_new = torch.cat([c[:bsz], c[:bsz], c[bsz:]])
    down = [torch.cat([torch.zeros_like(s), s, s]) for s in down]
    up = {k: torch.cat([torch.zeros_like(v), torch.zeros_like(v), v]) for k, v in up.items()}
    return torch.cat([latents, latents, latents]), c_new, down, up


def generate(official: Path, out_dir: Path) -> None:
    mods = install_stand_ins(official)
    torch.manual_seed(0)  # construction-time initialisers; every weight is overwritten afterwards
    cfg, model, unet = build_official(mods)
    pose_utils = mods["pose_utils"]
    ref: dict[str, torch.Tensor] = {"keypoints_yx": torch.tensor(KEYPOINTS_YX, dtype=torch.float64)}

    # Stage 1: pose rasterisation (official 256x256 and the tiny side) as digests; tiny skeletons too.
    pose_inputs = []
    for i, kp in enumerate(KEYPOINTS_YX):
        for side in (256, SOURCE_SIDE):
            skeleton, pose21 = official_pose_image(pose_utils, kp, side)
            ref[f"pose{i}_{side}_digest"] = digest(pose21)
            if side == SOURCE_SIDE:
                ref[f"pose{i}_{side}_skeleton"] = torch.from_numpy(np.ascontiguousarray(skeleton))
                pose_inputs.append(pose21)
    pose_img = torch.stack([pose_inputs[i] for i in PIPELINE_POSES])
    img_cond = source_images()

    with torch.no_grad():
        # Stage 2: Swin stage outputs.
        _, features = model.backbone(img_cond)
        for i, f in enumerate(features):
            ref[f"swin_stage{i}"] = f
        # Stages 3-4: prompt (null half first), HGA biases, pose residuals (the official forward).
        c, down, up = model({"img_cond": img_cond, "pose_img": pose_img})
        ref["prompt"] = c
        for i, r in enumerate(down):
            ref[f"pose_residual{i}"] = r
        for k, v in up.items():
            block = int(k.split("_")[1])
            ref[f"appearance_bias{block}"] = v
        # Stages 5-6: one three-branch UNet call and the guided noise, per timestep.
        for t in TIMESTEPS:
            x3, c3, down3, up3 = three_branch_inputs(c, down, up, noisy_latents(t))
            eps = unet(sample=x3, timestep=torch.tensor(t), encoder_hidden_states=c3,
                       down_block_additional_residuals=copy.deepcopy(down3),
                       up_block_additional_residuals=copy.deepcopy(up3))
            ref[f"unet_t{t}"] = eps
            uc, dn, full = eps.chunk(3)
            ref[f"guided_t{t}"] = uc + POSE_SCALE * (dn - uc) + APPEARANCE_SCALE * (full - dn)

        # Stage 7: the official sampling function, STEPS DDPM steps, injected noise.
        scheduler = mods["scheduling_ddpm"].DDPMScheduler.from_pretrained(
            str(official / "pretrained_models" / "scheduler"))
        noises = [step_noise(i) for i in range(STEPS)]
        used = []

        def injected_noise(shape, generator=None, device=None, dtype=None, layout=None):
            noise = noises[len(used)]
            assert tuple(shape) == tuple(noise.shape), (shape, noise.shape)
            used.append(len(used))
            return noise.to(dtype=dtype)

        mods["scheduling_ddpm"].randn_tensor = injected_noise
        vae = _RecordingVAE()
        mods["test"].sample(cfg, torch.float32, _NoOpAccelerator(), scheduler, vae, unet,
                            initial_latents(), c, [r.clone() for r in down], dict(up))
        assert len(used) == STEPS, len(used)
        ref["sampled_latents"] = vae.latents
        ref["timesteps"] = scheduler.timesteps.clone()
        scheduler.set_timesteps(50)  # the official 50-step schedule, for the schedule test
        ref["timesteps_50"] = scheduler.timesteps.clone()

    ref = {k: v.contiguous() for k, v in ref.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(ref, str(out_dir / "cfld_tiny_reference.safetensors"),
              metadata={"pose_scale": str(POSE_SCALE), "appearance_scale": str(APPEARANCE_SCALE),
                        "timesteps": json.dumps(TIMESTEPS), "steps": str(STEPS),
                        "pipeline_poses": json.dumps(PIPELINE_POSES)})
    keys = {"conditioning": {k: list(v.shape) for k, v in model.state_dict().items()},
            "unet": {k: list(v.shape) for k, v in unet.state_dict().items()}}
    (out_dir / "cfld_tiny_keys.json").write_text(json.dumps(keys, indent=0) + "\n")
    total = sum(math.prod(v.shape) * v.element_size() for v in ref.values())
    logger.info("wrote %d reference tensors (%.0f kB) and %d + %d keys to %s", len(ref), total / 1024,
                len(keys["conditioning"]), len(keys["unet"]), out_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="checkout of YanzuoLu/CFLD")
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    generate(args.official.resolve(), args.out)


if __name__ == "__main__":
    main()
