"""Load the host and this pack with some modules made unimportable, run a few prompts, print a JSON report.

Usage: ``python missing_dependency_probe.py <prepared host tree> <module> [<module> ...]``. Each named
module is set to ``None`` in ``sys.modules`` before anything is imported, so ``import <module>`` raises
``ImportError`` exactly as when the package is not installed. The report holds the ``PT_`` node ids the
host registered, the pack's import errors from the load log, and the outcome of each prompt of
:data:`PROMPTS` (``ok``, or the exception message of the node that failed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

for _name in sys.argv[2:]:
    sys.modules[_name] = None  # type: ignore[assignment]

sys.path[:0] = [str(Path(__file__).resolve().parent)]

from host_inprocess import start_in_process_host  # noqa: E402


def node(class_type: str, **inputs: object) -> dict[str, object]:
    return {"class_type": class_type, "inputs": inputs}


LOAD = node("PT_LoadPoseFile", file="[example] standing_front.json", canvas_width=0, canvas_height=0,
            first_frame=0, max_frames=0, coordinates="auto")
PROMPTS = {
    "save_pose": {  # no optional dependency on this path
        "1": LOAD,
        "2": node("PT_RetargetPose", target_pose=["1", 0], source_pose=["1", 0], scale="source",
                  source_frame=0, margin=0.0),
        "3": node("PT_SavePoseFile", pose=["2", 0], filename_prefix="probe", format="POSE_KEYPOINT json",
                  binarize_confidence=False),
    },
    "render_pose": {  # OpenCV
        "1": LOAD,
        "2": node("PT_RenderPose", pose=["1", 0], width=0, height=0, draw_body=True, draw_hands=False,
                  draw_face=False, stick_width="standard", heatmap_sigma=6.0, limb_width=16.0),
        "3": node("PreviewImage", images=["2", 0]),
    },
    "face_similarity": {  # insightface + onnxruntime (the tiny antelopev2 pack is in the tree)
        "1": node("EmptyImage", width=64, height=64, batch_size=1, color=0),
        "2": node("PT_FaceSimilarity", reference=["1", 0], images=["1", 0], insightface="antelopev2",
                  det_size=128),
    },
}


def main() -> None:
    host = start_in_process_host(Path(sys.argv[1]))
    report: dict[str, object] = {
        "nodes": sorted(k for k in host.node_classes if k.startswith("PT_")),
        "import_failures": [r.getMessage()[:300] for r in host.load_log
                            if "IMPORT FAILED" in r.getMessage() or "pose-transfer" in r.getMessage().lower()
                            and r.levelname in ("ERROR", "WARNING")],
    }
    for name, prompt in PROMPTS.items():
        result = host.run(prompt)
        report[name] = "ok" if result.success else (result.error or {}).get("exception_message", "failed")
    sys.stdout.write("\nREPORT " + json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
