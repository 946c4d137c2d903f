"""Saved workflows keep loading: every node's id, input names (with types, order, optional flag) and output
slots equal the shipped interface in ``node_interfaces.json``; categories follow one scheme.

A new node is added to the JSON file; an existing entry never changes (a changed input or output breaks
the workflows users saved). The example workflows and their API copies are checked in ``test_workflows``.
"""

from __future__ import annotations

import json
from pathlib import Path

SHIPPED = json.loads((Path(__file__).with_name("node_interfaces.json")).read_text())
CATEGORIES = {"pose transfer/Pose", "pose transfer/TruePose", "pose transfer/RePoseDM",
              "pose transfer/OnePoseTrans", "pose transfer/CFLD", "pose transfer/Evaluation"}


def _interfaces(comfy_host) -> dict[str, dict]:
    found = {}
    for node_id, cls in comfy_host.node_classes.items():
        if node_id.startswith("PT_"):
            schema = cls.GET_SCHEMA()
            found[node_id] = {
                "inputs": [[i.id, i.get_io_type(), bool(getattr(i, "optional", False))]
                           for i in schema.inputs],
                "outputs": [o.get_io_type() for o in schema.outputs],
                "category": schema.category,
            }
    return found


def test_every_shipped_node_keeps_its_interface(comfy_host):
    current = _interfaces(comfy_host)
    assert sorted(set(SHIPPED) - set(current)) == []
    changed = {node_id: (SHIPPED[node_id], {k: current[node_id][k] for k in ("inputs", "outputs")})
               for node_id in SHIPPED
               if SHIPPED[node_id] != {k: current[node_id][k] for k in ("inputs", "outputs")}}
    assert changed == {}
    assert sorted(set(current) - set(SHIPPED)) == [], "add new nodes to tests/node_interfaces.json"


def test_categories_are_one_per_method(comfy_host):
    categories = {node_id: entry["category"] for node_id, entry in _interfaces(comfy_host).items()}
    assert set(categories.values()) == CATEGORIES
    assert categories["PT_FaceSimilarity"] == "pose transfer/Evaluation"
    assert categories["PT_RenderPose"] == categories["PT_LoadPoseFile"] == "pose transfer/Pose"
