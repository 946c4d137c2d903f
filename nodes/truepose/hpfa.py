"""The TruePose HPFA node (parsing-guided fusion attention) and the pose-based target regions node."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.parsing import ParsingResult
from ...pose_models.truepose import (
    BANK_GROUPS,
    REGION_LABEL_SET,
    TruePoseError,
    bank_group_masks,
    parse_block_selection,
    parse_group_weights,
    target_region_labels,
)
from ..common.categories import TRUEPOSE as CATEGORY
from ..common.errors import node_errors
from ..common.pose_input import read_pose_input
from ..common.types import PoseKeypoint
from ..host.backbone import Backbone
from ..host.memory import require_memory
from ..host.sampling import add_denoiser_hook, add_sampling_scope, wrapper_key
from . import bank as bank_mod
from .fusion import BRANCHES, HPFARun, HPFASettings, sampling_scope, self_attention_hook
from .types import HumanParsing, SourceBankType, model_backbone

NODE = "TruePose HPFA"
WRAPPER_KEY = wrapper_key("truepose_hpfa")


def check_bank_fits(bank: bank_mod.SourceBank, backbone: Backbone) -> None:
    """The bank must come from a model with this model's self-attention layers and widths."""
    if bank.backbone.self_attention != backbone.self_attention:
        raise TruePoseError(
            f"{NODE}: the feature bank was recorded with a {bank.backbone.describe()} model, but this MODEL "
            f"is {backbone.describe()}. Connect the same MODEL to the SourceNet Encoder and to HPFA.")


def group_weights_tensor(text: str, bank: bank_mod.SourceBank) -> torch.Tensor:
    """``float32 [G]``: the node's weights, 0 for groups the bank does not cover."""
    with node_errors(NODE):
        weights = parse_group_weights(text)
    values = torch.tensor([weights[g] if g in bank.groups else 0.0 for g in BANK_GROUPS])
    if not bool((values > 0).any()):
        raise TruePoseError(f"{NODE}: every group the bank covers ({', '.join(bank.groups)}) has "
                            f"weight 0, so "
                            "HPFA would read nothing; raise a weight or cover other groups in the SourceNet.")
    return values


def target_masks(regions: ParsingResult | None) -> torch.Tensor | None:
    if regions is None:
        return None
    if not isinstance(regions, ParsingResult):
        raise TruePoseError(f"{NODE}: target_regions must come from TruePose Target Regions or a "
                            f"parsing node.")
    if not bool((regions.labels > 0).any()):
        raise TruePoseError(f"{NODE}: target_regions hold no person; check the target pose or parsing.")
    return bank_group_masks(regions.labels, regions.label_set)


def patch_model(model: Any, bank: bank_mod.SourceBank, settings: HPFASettings) -> Any:
    """A clone of ``model`` with HPFA on ``settings.layers`` (wrapping other packs' attention patches
    there); ``model`` itself is left untouched."""
    run = HPFARun(bank, settings)
    hooks = {layer: self_attention_hook(run, layer) for layer in settings.layers}
    patched = bank.backbone.patch_attention(model, hooks)
    add_sampling_scope(patched, WRAPPER_KEY, sampling_scope(run))
    if bank.mode == "per_step":
        add_denoiser_hook(patched, WRAPPER_KEY, run.per_step)
    return patched


class TruePoseHPFA(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_TruePoseHPFA",
            display_name=NODE,
            category=CATEGORY,
            description=(
                "Parsing-guided fusion attention: in the chosen self-attention layers the target attends to "
                "its own keys and the source bank's keys together, with a bias from the source parsing "
                "(-inf for excluded regions, log(weight) per region group, optional target-to-source region "
                "gating). Returns a patched MODEL for any sampler; keeps ControlNets and other "
                "packs' patches."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The MODEL to patch (the same one the SourceNet "
                                                "Encoder used)."),
                SourceBankType.Input("bank", tooltip="Feature bank from TruePose SourceNet Encoder."),
                io.Float.Input("strength", default=1.0, min=0.0, max=10.0, step=0.05,
                               tooltip="Multiplies the attention mass on source tokens (adds log(strength) "
                                       "to their bias); 0 switches HPFA off."),
                io.String.Input("group_weights", default="", multiline=False,
                                tooltip="Per-group weights, e.g. 'face=1.5, upper_clothes=1.2, hair=0'. "
                                        "Unnamed covered groups weigh 1; 0 excludes a group exactly. Groups: "
                                        f"{', '.join(BANK_GROUPS)}, person, all."),
                io.String.Input("blocks", default="auto",
                                tooltip="Self-attention layers to patch. auto: the backbone's recommended "
                                        "layers (UNet: middle, output; Flux: double). UNet: input/down, "
                                        "middle/mid, output/up, all. Flux: double, single, all. Optionally "
                                        "with numbers (output:3-5, single:10-20)."),
                io.Float.Input("start_percent", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="First part of sampling (0 = first step) where HPFA acts."),
                io.Float.Input("end_percent", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Last part of sampling (1 = last step) where HPFA acts."),
                io.Combo.Input("cfg_branches", options=BRANCHES, default="both",
                               tooltip="Which CFG branches read the bank: both, only the positive prompt's "
                                       "rows, or only the negative's."),
                HumanParsing.Input("target_regions", optional=True,
                                   tooltip="Where the face, clothes and limbs will be in the target (from "
                                           "TruePose Target Regions or a parse of a first pass): enables "
                                           "region-to-region gating."),
                io.Float.Input("gate", default=4.0, min=0.0, max=100.0, step=0.1,
                               tooltip="With target_regions: bias subtracted where the target region does "
                                       "not match the source group (face prefers face, torso prefers upper "
                                       "clothes, ...)."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, bank: bank_mod.SourceBank, strength: float, group_weights: str, blocks: str,
                start_percent: float, end_percent: float, cfg_branches: str, gate: float,
                target_regions: ParsingResult | None = None) -> io.NodeOutput:
        if not isinstance(bank, bank_mod.SourceBank):
            raise TruePoseError(f"{NODE}: 'bank' must come from TruePose SourceNet Encoder.")
        if start_percent > end_percent:
            raise TruePoseError(f"{NODE}: start_percent ({start_percent}) is after end_percent "
                                f"({end_percent}).")
        backbone = model_backbone(model, NODE)
        check_bank_fits(bank, backbone)
        with node_errors(NODE):
            layers = parse_block_selection(blocks, tuple(backbone.self_attention), backbone.stages)
        settings = HPFASettings(strength=float(strength), weights=group_weights_tensor(group_weights, bank),
                                layers=layers, start_percent=start_percent, end_percent=end_percent,
                                branches=cfg_branches, gate=float(gate),
                                target_masks=target_masks(target_regions))
        return io.NodeOutput(patch_model(model, bank, settings))


class TruePoseTargetRegions(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_TruePoseTargetRegions",
            display_name="TruePose Target Regions",
            category=CATEGORY,
            description=(
                "Predicts where the face, upper and lower clothes, arms, legs and shoes will be from the "
                "target pose (face disk, torso polygon, limb capsules sized by the body), as a label map for "
                "the region gating of TruePose HPFA. One map per pose frame."
            ),
            inputs=[
                PoseKeypoint.Input("pose", tooltip="Target poses (any POSE_KEYPOINT producer)"),
                io.Int.Input("width", default=512, min=16, max=8192, step=8,
                             tooltip="Target image width in px (the latent width x 8)."),
                io.Int.Input("height", default=512, min=16, max=8192, step=8,
                             tooltip="Target image height in px (the latent height x 8)."),
                io.Float.Input("scale", default=1.0, min=0.2, max=4.0, step=0.05,
                               tooltip="Multiplies every region's size (wider for loose clothes)."),
            ],
            outputs=[HumanParsing.Output(display_name="target_regions"),
                     io.Image.Output(display_name="preview")],
        )

    @classmethod
    def execute(cls, pose: Any, width: int, height: int, scale: float) -> io.NodeOutput:
        frames = read_pose_input(pose, "pose")
        # int64 labels, the float colour preview, one group mask at a time for consumers
        require_memory(len(frames) * height * width * (8 + 12 + 4), "TruePose Target Regions",
                       f"{len(frames)} region map(s) of {width}x{height}",
                       "Give fewer pose frames at once or a smaller width and height.")
        maps = [torch.from_numpy(target_region_labels(f, height, width, scale)) for f in frames]
        labels = torch.stack(maps)
        result = ParsingResult(labels, REGION_LABEL_SET)
        preview = result.color_map()
        return io.NodeOutput(result, preview, ui=ui.PreviewImage(preview, cls=cls))
