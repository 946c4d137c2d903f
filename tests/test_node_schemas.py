"""Every node of the pack has a complete, user-facing schema and a help page."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pack_nodes(comfy_host) -> dict[str, type]:
    nodes = {node_id: cls for node_id, cls in comfy_host.node_classes.items() if node_id.startswith("PT_")}
    assert nodes
    return nodes


def test_every_node_has_names_category_and_description(pack_nodes):
    for node_id, cls in pack_nodes.items():
        schema = cls.GET_SCHEMA()
        assert schema.node_id == node_id
        assert schema.display_name and schema.display_name != node_id, node_id
        assert schema.category.startswith("pose transfer/"), node_id
        assert len(schema.description) > 30, node_id


def test_every_input_has_a_tooltip(pack_nodes):
    for node_id, cls in pack_nodes.items():
        input_types = cls.INPUT_TYPES()
        for section in ("required", "optional"):
            for name, spec in input_types.get(section, {}).items():
                options = spec[1] if len(spec) > 1 else {}
                assert options.get("tooltip", "").strip(), f"{node_id}.{name} has no tooltip"


def test_every_node_has_a_help_page(pack_nodes):
    for node_id, cls in pack_nodes.items():
        page = REPO_ROOT / "web" / "docs" / f"{node_id}.md"
        assert page.is_file(), f"missing {page.relative_to(REPO_ROOT)}"
        text = page.read_text()
        assert text.startswith(f"# {cls.GET_SCHEMA().display_name}"), node_id
        for name in cls.INPUT_TYPES().get("required", {}):
            assert f"`{name}`" in text, f"{page.name} does not document input {name}"


def test_readme_lists_every_node(pack_nodes):
    readme = (REPO_ROOT / "README.md").read_text()
    for node_id in pack_nodes:
        assert f"`{node_id}`" in readme, f"README.md does not list {node_id}"
