"""CFLD (Coarse-to-Fine Latent Diffusion, arXiv 2402.18078, CVPR 2024) in plain PyTorch.

A port of the official YanzuoLu/CFLD inference path that loads the released DeepFashion checkpoints
(``pytorch_model.bin`` + ``pytorch_model_1.bin``) and reproduces the official outputs (fp32, stage by
stage, see ``tests/cfld``). No diffusers, xformers, timm, torchvision or ComfyUI.

Usage::

    from pose_models.cfld import load_release, pose_input
    model = load_release("models/cfld/pytorch_model.bin", "models/cfld/pytorch_model_1.bin", device="cuda")
    conditions = model.encode_conditions(img_cond, pose_img)     # img_cond [B,3,256,256] in [-1, 1]
    prompt, pose_residuals, appearance_biases = conditions       # [2B,16,768], 3 levels, {3..11: ...}
    eps = model.guided_noise(latents, 981, conditions, pose_scale=2.0, appearance_scale=2.0)
    latents = model.sample(conditions, steps=50, generator=torch.Generator("cuda").manual_seed(0))
    # decode latents / 0.18215 with the SD1.5 VAE, then * 0.5 + 0.5

Modules: :mod:`.pipeline` (API and tensor contracts), :mod:`.checkpoint` (release files, errors,
conversion), :mod:`.rasterize` (21-channel pose input), :mod:`.preprocess` (aspect handling),
:mod:`.conditioner` / :mod:`.swin` / :mod:`.appearance` / :mod:`.pose_encoder` / :mod:`.decoder` /
:mod:`.unet` (networks), :mod:`.scheduler` (DDPM).
``python cli.py cfld convert IN.bin OUT.safetensors`` (``cli.py`` in the pack folder) converts a release file.
"""

from .checkpoint import (
    CONDITIONING_FILE,
    MODELS_FOLDER,
    RELEASE_URL,
    UNET_FILE,
    FileKind,
    build_conditioner,
    build_unet,
    check_pair,
    convert_to_safetensors,
    file_kind,
    read_release,
    read_tensors,
    read_unet_config,
    unet_state,
)
from .conditioner import CFLDConditioner, Conditions
from .errors import CFLDCheckpointError, CFLDError
from .pipeline import DEFAULT_APPEARANCE_SCALE, DEFAULT_POSE_SCALE, DEFAULT_STEPS, CFLDModel, load_release
from .preprocess import FIT_MODES, OUTPUT_SIZES, fit_region, prepare_source, resize_output
from .rasterize import frame_keypoints, heatmaps, pose_input, skeleton_image
from .scheduler import DDPMSchedule
from .unet import SD15UNet, UNetConfig

__all__ = [
    "CONDITIONING_FILE", "DEFAULT_APPEARANCE_SCALE", "DEFAULT_POSE_SCALE", "DEFAULT_STEPS", "FIT_MODES",
    "MODELS_FOLDER", "OUTPUT_SIZES", "RELEASE_URL", "UNET_FILE",
    "CFLDCheckpointError", "CFLDConditioner", "CFLDError", "CFLDModel", "Conditions", "DDPMSchedule",
    "FileKind",
    "SD15UNet", "UNetConfig",
    "build_conditioner", "build_unet", "check_pair", "convert_to_safetensors", "file_kind", "fit_region",
    "frame_keypoints", "heatmaps", "load_release", "pose_input", "prepare_source", "read_release",
    "read_tensors", "read_unet_config", "resize_output", "skeleton_image", "unet_state",
]
