"""Pure-Python model and data code of the Pose Transfer pack (torch, numpy and cv2 only; never ComfyUI)."""
