"""Convert a UI-format workflow (what the editor saves, schema 0.4) into the API format the executor runs.

Mirrors the frontend's ``graphToPrompt`` for the cases the pack's example workflows use: every widget
input takes the next entry of ``widgets_values`` in the node's input order (required, then optional),
an INT/COMBO widget with ``control_after_generate`` is followed by its control value ("fixed",
"randomize", ...), and socket inputs come from ``links`` (``[id, src_node, src_slot, dst_node,
dst_slot, type]``). A widget input fed by a link (a STRING output into ``CLIPTextEncode.text``) is listed in
the node's ``inputs`` with ``"widget": {"name": ...}`` and a ``link``: the link wins, and its placeholder in
``widgets_values`` is still consumed (as the frontend does).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def is_widget(spec: tuple[Any, ...]) -> bool:
    """Whether an ``INPUT_TYPES`` entry is drawn as a widget (a value), not a socket (a link): a value type
    without ``forceInput`` (a forced input is a plain socket and has no ``widgets_values`` entry)."""
    kind = spec[0]
    options = spec[1] if len(spec) > 1 else {}
    return (isinstance(kind, list) or kind in WIDGET_TYPES) and not options.get("forceInput")


def widget_inputs(node_class: type) -> list[tuple[str, bool]]:
    """``(name, has_control_value)`` for each widget input of ``node_class``, in ``widgets_values`` order."""
    types = node_class.INPUT_TYPES()
    out = []
    for section in ("required", "optional"):
        for name, spec in types.get(section, {}).items():
            if is_widget(spec):
                options = spec[1] if len(spec) > 1 else {}
                out.append((name, bool(options.get("control_after_generate"))))
    return out


def ui_to_api(workflow: dict[str, Any], node_classes: dict[str, type]) -> dict[str, dict[str, Any]]:
    """The API-format prompt (``{id: {"class_type", "inputs"}}``) of a UI-format ``workflow``."""
    links = {link[0]: link for link in workflow["links"]}
    prompt: dict[str, dict[str, Any]] = {}
    for node in workflow["nodes"]:
        if node.get("mode", 0) != 0:
            continue
        class_type = node["type"]
        values = list(node.get("widgets_values", []))
        inputs: dict[str, Any] = {}
        for name, has_control in widget_inputs(node_classes[class_type]):
            if not values:
                raise ValueError(f"node {node['id']} ({class_type}): no widget value left for {name!r}")
            inputs[name] = values.pop(0)
            if has_control:
                values.pop(0)
        if values:
            raise ValueError(f"node {node['id']} ({class_type}): unused widget values {values}")
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                _, src, src_slot, _, _, _ = links[slot["link"]]
                inputs[slot.get("widget", {}).get("name", slot["name"])] = [str(src), src_slot]
        prompt[str(node["id"])] = {"class_type": class_type, "inputs": inputs}
    return prompt


SIZED_NODES = ("EmptyLatentImage", "ImageScale", "PT_RenderPose", "PT_TruePoseTargetRegions")
"""Node types whose ``width``/``height`` widgets :func:`on_tiny_models` shrinks."""


def without_meta(prompt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An API prompt without ``_meta`` (titles): what the executor and :func:`ui_to_api` compare."""
    return {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in prompt.items()}


TINY_IPADAPTER = {"sd15": "ipadapter/pt_tiny/ip-adapter_sd15.bin",
                  "sdxl": "ipadapter/pt_tiny/ip-adapter_sdxl_vit-h.safetensors"}
TINY_INSTANTID = "instantid/pt_tiny/ip-adapter.bin"
TINY_FACEID = "ipadapter/pt_tiny/ip-adapter-faceid_sd15.bin"
TINY_FACE_MODELS = {"sd15": TINY_FACEID, "sdxl": TINY_INSTANTID}
"""The Face node's ``face_model`` (``<folder>/<file>``) on each tiny checkpoint."""
TINY_ADAPTERS = {
    TINY_IPADAPTER["sd15"]: "sd15",
    TINY_IPADAPTER["sdxl"]: "sdxl",
    TINY_INSTANTID: "sdxl",
    TINY_FACEID: "sd15",
}
"""Tiny random IP-Adapter / InstantID / IP-Adapter FaceID files (model-folder paths) in the released key
layouts, and the tiny checkpoint each one fits; :func:`write_tiny_injection_files` writes them."""

TINY_SDXL_CONTROLNET = "controlnet/pt_tiny/openpose_sdxl.safetensors"
"""A tiny ControlNet (v1.1 layout, 3-channel hint) for the tiny SDXL checkpoint."""


def write_tiny_injection_files(tiny_models: dict[str, Path]) -> None:
    """Write :data:`TINY_ADAPTERS`, :data:`TINY_SDXL_CONTROLNET` and the tiny buffalo_l insightface pack
    (FaceID's; antelopev2 is a tiny model already) into the tiny models' folder (once)."""
    from oneposetrans.inject_files import (
        checkpoint_attn2_shapes,
        faceid_state,
        instantid_state,
        ip_adapter_state,
        save_flat,
        save_release_bin,
        write_tiny_buffalo_l,
    )

    models = tiny_models["sd15"].parents[1]
    for relative, base in TINY_ADAPTERS.items():
        path = models / relative
        if path.is_file():
            continue
        shapes = checkpoint_attn2_shapes(tiny_models[base])
        if relative.startswith("instantid/"):
            state = instantid_state(shapes)
        else:
            state = faceid_state(shapes) if "faceid" in relative else ip_adapter_state(shapes)
        (save_flat if path.suffix == ".safetensors" else save_release_bin)(state, path)
    write_tiny_buffalo_l(models)
    if not (models / TINY_SDXL_CONTROLNET).is_file():
        from tiny_models.layouts import controlnet_layout
        from tiny_models.sd_checkpoints import SDXL_UNET, STORAGE_DTYPE
        from tiny_models.tensors import fixture_metadata, write_safetensors

        tensors = controlnet_layout(SDXL_UNET, 3).materialise(0, "controlnet.openpose_sdxl", STORAGE_DTYPE)
        tensors = {f"control_model.{key}": value for key, value in tensors.items()}
        write_safetensors(models / TINY_SDXL_CONTROLNET, tensors, fixture_metadata(0))


def _tiny_name(relative: str) -> str:
    return relative.split("/", 1)[1]


def on_tiny_models(prompt: dict[str, Any], tiny_models: dict[str, Path], width: int = 64, height: int = 96,
                   steps: int = 3) -> dict[str, dict[str, Any]]:
    """An example's API prompt on the tiny test models: tiny checkpoint (SDXL when the example's checkpoint
    name says "xl", else SD1.5) and the matching ControlNet, IP-Adapter and InstantID files (written by
    :func:`write_tiny_injection_files` when the prompt needs them; the Face node gets InstantID on SDXL and
    FaceID on SD1.5, its insightface pack unchanged), a small canvas, ``steps`` sampling steps, a small
    estimator input, face detector size 128, 2 tuner steps on 64 px crops (same graph otherwise; a deep
    copy)."""
    prompt = copy.deepcopy(without_meta(prompt))
    kinds = {node["class_type"] for node in prompt.values()}
    sdxl = any("xl" in str(node["inputs"].get("ckpt_name", "")).lower() for node in prompt.values())
    if kinds & {"PT_OnePoseTransStyle", "PT_OnePoseTransFace"} or sdxl:
        write_tiny_injection_files(tiny_models)
    base = "sdxl" if sdxl else "sd15"
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = tiny_models[base].name
        elif kind == "ControlNetLoader":
            inputs["control_net_name"] = (_tiny_name(TINY_SDXL_CONTROLNET) if sdxl
                                          else tiny_models["controlnet_openpose_sd15"].name)
        elif kind in SIZED_NODES:
            inputs["width"], inputs["height"] = width, height
        elif kind == "PT_LoadPoseEstimator":
            inputs["box_size"] = 64
        elif kind == "KSampler":
            inputs["steps"] = steps
        elif kind == "CLIPVisionLoader":
            inputs["clip_name"] = tiny_models["clip_vision"].name
        elif kind == "PT_OnePoseTransStyle":
            inputs["ipadapter"] = _tiny_name(TINY_IPADAPTER[base])
        elif kind == "PT_OnePoseTransFace":
            inputs["face_model"] = TINY_FACE_MODELS[base]
            inputs["det_size"] = 128
        elif kind == "PT_FaceSimilarity":
            inputs["det_size"] = 128
        elif kind == "PT_OnePoseTransTuner":
            inputs["steps"], inputs["crop_size"], inputs["eval_samples"] = 2, 64, 1
    return prompt
