"""OnePoseTrans maths without ComfyUI: block names and block-weight strings, the LoRA file format, the
training crops and loss weighting, and the caption template.

OnePoseTrans (arXiv 2409.09593) fine-tunes a text-to-image model on the one source image (a test-time
LoRA) and re-poses it with an OpenPose ControlNet. The official values are in ``docs/methods.md``
("OnePoseTrans"); the host glue is in ``nodes/oneposetrans/``.

Modules (each documents its data contract):

* :mod:`.blocks` -- host and diffusers attention-block names, block-weight presets and strings.
* :mod:`.lora_format` -- LoRA initialisation and the host's (kohya) LoRA key format.
* :mod:`.training` -- tuner settings, random source crops, the loss and its weights, the AdamW loop.
* :mod:`.caption` -- the "A man/woman with face, ..." caption template.
* :mod:`.ip_adapter` -- IP-Adapter files, cross-attention layer numbering, image projection, style presets.
* :mod:`.instantid` -- InstantID's face Resampler and the face value written at the "face" token.
* :mod:`.faceid` -- IP-Adapter FaceID's face projection (SD1.5 face part) and which face file a file is.
* the source's ArcFace embedding: :mod:`pose_models.faces` (shared with the face similarity node).
"""

from .blocks import (
    BLOCK_PRESETS,
    STYLE_BLOCK,
    BlockWeights,
    block_of_weight_key,
    diffusers_to_host_block,
    parse_block_weights,
    preset_block_weights,
)
from .caption import build_caption
from .errors import OnePoseTransError
from .faceid import FaceFile, FaceIDProjection, face_file
from .instantid import FaceResampler, face_value
from .ip_adapter import (
    CrossAttentionLayer,
    ImageProjection,
    cross_attention_layers,
    layer_projections,
    load_adapter_file,
    style_preset_scales,
)
from .lora_format import LoraFactors, init_lora_factors, lora_key_prefix, lora_state_dict
from .training import (
    TunerSettings,
    center_square_crop,
    check_crop_size,
    denoising_loss,
    evaluation_loss,
    parse_targets,
    prediction_loss_weight,
    random_square_crops,
    train_lora,
    uniform_timesteps,
)

__all__ = [
    "BLOCK_PRESETS",
    "STYLE_BLOCK",
    "BlockWeights",
    "CrossAttentionLayer",
    "FaceFile",
    "FaceIDProjection",
    "FaceResampler",
    "ImageProjection",
    "LoraFactors",
    "OnePoseTransError",
    "TunerSettings",
    "center_square_crop",
    "check_crop_size",
    "parse_targets",
    "uniform_timesteps",
    "train_lora",
    "denoising_loss",
    "evaluation_loss",
    "block_of_weight_key",
    "build_caption",
    "cross_attention_layers",
    "face_file",
    "face_value",
    "layer_projections",
    "load_adapter_file",
    "style_preset_scales",
    "diffusers_to_host_block",
    "init_lora_factors",
    "lora_key_prefix",
    "lora_state_dict",
    "parse_block_weights",
    "prediction_loss_weight",
    "preset_block_weights",
    "random_square_crops",
]
