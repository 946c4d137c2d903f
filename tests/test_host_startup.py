"""Start-up checks against the real host: the pack loads through the host's loader, cleanly, as V3."""

from __future__ import annotations

import asyncio
import logging
import sys

from host_tree import PACK_FOLDER


def _pack_module():
    return next(mod for name, mod in sys.modules.items() if name.endswith(f"custom_nodes/{PACK_FOLDER}"))


def _pack_node_ids() -> set[str]:
    extension = asyncio.run(_pack_module().comfy_entrypoint())
    return {cls.GET_SCHEMA().node_id for cls in asyncio.run(extension.get_node_list())}


def test_pack_loads_without_import_error(comfy_host):
    failures = [r.getMessage() for r in comfy_host.load_log
                if r.levelno >= logging.WARNING and PACK_FOLDER in r.getMessage()]
    assert failures == []
    loaded = [r.getMessage() for r in comfy_host.load_log if "IMPORT FAILED" in r.getMessage()]
    assert not any(PACK_FOLDER in m for m in loaded), loaded


def test_pack_takes_the_v3_path(comfy_host):
    module = _pack_module()
    assert not hasattr(module, "NODE_CLASS_MAPPINGS")
    assert module.WEB_DIRECTORY == "./web"
    assert callable(module.comfy_entrypoint)
    registered = {node_id for node_id, cls in comfy_host.node_classes.items() if node_id.startswith("PT_")}
    assert registered == _pack_node_ids()
    assert registered, "the pack registered no PT_ node"


def test_object_info_lists_every_node_with_description(comfy_host, host_server):
    info = host_server.get_json("/object_info")
    pt_nodes = {node_id: entry for node_id, entry in info.items() if node_id.startswith("PT_")}
    assert set(pt_nodes) == _pack_node_ids()
    for node_id, entry in pt_nodes.items():
        assert entry["description"].strip(), node_id
        assert entry["category"].startswith("pose transfer/"), node_id
        assert entry["display_name"] and entry["display_name"] != node_id, node_id
        assert entry["python_module"] == f"custom_nodes.{PACK_FOLDER}", node_id
    assert "IMPORT FAILED" not in "\n".join(
        line for line in host_server.log_text().splitlines() if PACK_FOLDER in line)


def test_server_serves_the_web_extension_and_help_pages(comfy_host, host_server):
    extensions = host_server.get_json("/extensions")
    assert any(path.startswith(f"/extensions/{PACK_FOLDER}/") and path.endswith(".js") for path in extensions)
    for node_id in _pack_node_ids():
        status, body = host_server.request(f"/extensions/{PACK_FOLDER}/docs/{node_id}.md")
        assert status == 200, node_id
        assert body.decode().startswith("# "), node_id
