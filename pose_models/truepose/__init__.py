"""TruePose maths without ComfyUI: region groups, group weights, block selection, attention bias, pose prior.

TruePose (arXiv 2502.03426) preserves the source person's face and clothing by letting the target's
self-attention read the source's keys and values, biased by the source's human parsing (HPFA). The pack's
design is in ``docs/methods.md`` ("TruePose"); the host glue is in ``nodes/truepose/``.

Modules (each documents its data contract):

* :mod:`.regions` -- bank region groups (the SCHP part groups, ``other``, ``background``), group masks
  from a parsing result, label maps from plain masks, group and weight parsing, region affinity.
* :mod:`.blocks` -- attention layer keys (opaque, from the backbone) and the block selection language.
* :mod:`.rope` -- moving recorded DiT keys to other rotary positions (where the bank sits in a Flux or
  Qwen-Image call).
* :mod:`.bias` -- per-layer coverage, the additive source-key bias and region-to-region gating.
* :mod:`.fusion` -- the fused attention that keeps another pack's self-attention patch.
* :mod:`.source` -- the SourceNet input: crop to latent cells, exact fill outside the bank's groups.
* :mod:`.pose_prior` -- target region masks from a pose (face disk, torso polygon, limb capsules).
* :mod:`.alignment` -- CAA: region crops and the region CLIP energy (encoder passed in).
"""

from .bias import area_coverage, dominant_group, gate_penalty, source_key_bias
from .blocks import LayerKey, Stages, format_layer_key, parse_block_selection, stage_words
from .errors import TruePoseError
from .fusion import mixed_with_own_output
from .pose_prior import target_region_labels
from .regions import (
    AFFINITY,
    BANK_GROUPS,
    REGION_LABEL_SET,
    affinity_matrix,
    bank_group_masks,
    labels_from_masks,
    parse_group_weights,
    parse_groups,
)
from .rope import reference_offset, rotate_keys
from .source import masked_source

__all__ = [
    "AFFINITY", "BANK_GROUPS", "REGION_LABEL_SET", "LayerKey", "Stages", "TruePoseError",
    "affinity_matrix", "area_coverage", "bank_group_masks", "dominant_group", "format_layer_key",
    "gate_penalty", "labels_from_masks", "masked_source", "mixed_with_own_output", "parse_block_selection",
    "parse_group_weights", "parse_groups",
    "reference_offset", "rotate_keys", "source_key_bias", "stage_words", "target_region_labels",
]
