"""Pose Transfer: re-pose a person in ComfyUI (one source photo + a target skeleton -> the same person).

ComfyUI loads this folder as a custom node pack through the V3 entry point ``comfy_entrypoint``.
Do not export ``NODE_CLASS_MAPPINGS`` here: the host would then take the V1 path and skip V3.
Host imports happen inside the entry point, so importing this file alone needs no ComfyUI.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    """Return the pack's ``ComfyExtension`` (it lists every node for the host's loader)."""
    from .nodes import PoseTransferExtension

    return PoseTransferExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
