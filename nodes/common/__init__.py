"""What the method packages share: socket types, categories, pose inputs, guidance widgets, node errors.

No ComfyUI internals here either (only ``comfy_api.latest``); host access goes through ``nodes.host``.
"""
