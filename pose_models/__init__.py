"""Pure-Python model and data code of the Pose Transfer pack (torch, numpy, safetensors, Pillow; OpenCV only
where a drawing must match OpenCV pixel for pixel, see :mod:`.opencv`). Never imports ComfyUI."""
