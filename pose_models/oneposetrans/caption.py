"""The OnePoseTrans caption template (``docs/methods.md``): "A man/woman with face, <hat>, <clothes>, ..."."""

from __future__ import annotations

from .errors import OnePoseTransError

SUBJECTS = ("woman", "man", "girl", "boy", "person")
NEGATIVE_PROMPT = "low quality, bad quality"
"""The official negative prompt."""


def build_caption(subject: str, parts: list[str]) -> str:
    """``"A <subject> with face, part1, part2"``; empty parts are skipped, each part is stripped of
    surrounding spaces and trailing commas. The word "face" must not occur in a part (it would make the
    face token ambiguous)."""
    if subject not in SUBJECTS:
        raise OnePoseTransError(f"Caption: subject {subject!r} is not one of {', '.join(SUBJECTS)}.")
    cleaned = [p.strip().strip(",").strip() for p in parts]
    cleaned = [p for p in cleaned if p]
    for part in cleaned:
        if "face" in part.lower().replace(",", " ").split():
            raise OnePoseTransError(
                f"Caption: the part {part!r} contains the word 'face'; only the template's 'with face' may "
                "use it (the face token must be unique). Reword that part."
            )
    return ", ".join([f"A {subject} with face", *cleaned])
