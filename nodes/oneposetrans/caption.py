"""The OnePoseTrans Caption node and the face token position every OnePoseTrans text node needs."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io, ui

from ...pose_models.oneposetrans import OnePoseTransError, build_caption
from ...pose_models.oneposetrans.caption import NEGATIVE_PROMPT, SUBJECTS
from ..common.categories import ONEPOSETRANS as CATEGORY

FACE_WORD = "face"
MAX_FACE_POSITION = 75
"""The face token must be inside the first 75 caption tokens (BOS + 75 + EOS = the 77 the recipe uses)."""


def face_token_index(clip: Any, caption: str) -> int:
    """Position of the word "face" in the caption's token sequence (BOS = 0) for every text encoder of the
    host CLIP (SDXL's two tokenizers must agree). Errors name the fix."""
    face_ids = {}
    for encoder, chunks in clip.tokenize(FACE_WORD).items():
        specials = {chunks[0][0][0], chunks[0][-1][0]}
        face_ids[encoder] = [t[0] for t in chunks[0] if t[0] not in specials][0]
    indices = set()
    for encoder, chunks in clip.tokenize(caption).items():
        ids = [t[0] for chunk in chunks for t in chunk]
        if face_ids[encoder] not in ids:
            raise OnePoseTransError(
                f"The caption has no word 'face' ({caption[:60]!r}); OnePoseTrans captions read "
                "'A man/woman with face, ...'. Build it with the OnePoseTrans Caption node."
            )
        indices.add(ids.index(face_ids[encoder]))
    if len(indices) != 1:
        raise OnePoseTransError(f"The text encoders disagree on the face token position ({sorted(indices)}).")
    index = indices.pop()
    if index > MAX_FACE_POSITION:
        raise OnePoseTransError(
            f"'face' is token {index}, beyond the first {MAX_FACE_POSITION} tokens; put "
            "'with face' at the start of the caption."
        )
    return index


class OnePoseTransCaption(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_OnePoseTransCaption",
            display_name="OnePoseTrans Caption",
            category=CATEGORY,
            description=(
                "Builds the OnePoseTrans caption 'A man/woman with face, <hat>, <clothes>, <pants>, <shoes>, "
                "<jewelry>, ...' from parts, the official negative prompt, and the face token index (found "
                "by tokenizing with the CLIP given)."
            ),
            inputs=[
                io.Clip.Input(
                    "clip", tooltip="The checkpoint's CLIP: finds the position of the 'face' token."
                ),
                io.Combo.Input(
                    "subject", options=list(SUBJECTS), default="woman", tooltip="Who is in the source image."
                ),
                *[
                    io.String.Input(
                        name,
                        default="",
                        tooltip=f"{name.capitalize()} of the source person, in words (empty = left out). "
                        "Do not use the word 'face'.",
                    )
                    for name in ("hat", "clothes", "pants", "shoes", "jewelry", "other")
                ],
            ],
            outputs=[
                io.String.Output(display_name="caption"),
                io.String.Output(display_name="negative"),
                io.Int.Output(display_name="face_index"),
            ],
        )

    @classmethod
    def execute(
        cls, clip: Any, subject: str, hat: str, clothes: str, pants: str, shoes: str, jewelry: str, other: str
    ) -> io.NodeOutput:
        caption = build_caption(subject, [hat, clothes, pants, shoes, jewelry, other])
        index = face_token_index(clip, caption)
        return io.NodeOutput(
            caption, NEGATIVE_PROMPT, index, ui=ui.PreviewText(f"{caption}\nface token {index}")
        )
