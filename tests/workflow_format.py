"""Convert a UI-format workflow (what the editor saves, schema 0.4) into the API format the executor runs.

Mirrors the frontend's ``graphToPrompt`` for the cases the pack's example workflows use: every widget
input takes the next entry of ``widgets_values`` in the node's input order (required, then optional),
an INT/COMBO widget with ``control_after_generate`` is followed by its control value ("fixed",
"randomize", ...), and socket inputs come from ``links`` (``[id, src_node, src_slot, dst_node,
dst_slot, type]``). Widget inputs converted to sockets are not supported (the examples use none).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def is_widget(spec: tuple[Any, ...]) -> bool:
    """Whether an ``INPUT_TYPES`` entry is drawn as a widget (a value), not a socket (a link)."""
    kind = spec[0]
    return isinstance(kind, list) or kind in WIDGET_TYPES


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
                inputs[slot["name"]] = [str(src), src_slot]
        prompt[str(node["id"])] = {"class_type": class_type, "inputs": inputs}
    return prompt


SIZED_NODES = ("EmptyLatentImage", "ImageScale", "PT_RenderPose", "PT_TruePoseTargetRegions")
"""Node types whose ``width``/``height`` widgets :func:`on_tiny_models` shrinks."""


def without_meta(prompt: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An API prompt without ``_meta`` (titles): what the executor and :func:`ui_to_api` compare."""
    return {nid: {"class_type": n["class_type"], "inputs": n["inputs"]} for nid, n in prompt.items()}


def on_tiny_models(prompt: dict[str, Any], tiny_models: dict[str, Path], width: int = 64, height: int = 96,
                   steps: int = 3) -> dict[str, dict[str, Any]]:
    """An example's API prompt on the tiny test models: tiny checkpoint and ControlNet, a small canvas,
    ``steps`` sampling steps and a small estimator input (same graph otherwise; a deep copy)."""
    prompt = copy.deepcopy(without_meta(prompt))
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = tiny_models["sd15"].name
        elif kind == "ControlNetLoader":
            inputs["control_net_name"] = tiny_models["controlnet_openpose_sd15"].name
        elif kind in SIZED_NODES:
            inputs["width"], inputs["height"] = width, height
        elif kind == "PT_LoadPoseEstimator":
            inputs["box_size"] = 64
        elif kind == "KSampler":
            inputs["steps"] = steps
    return prompt
