"""Everything the code, tests and docs refer to lives in the repository: no path to the team's reference
shelf beside it, and every ``docs/*.md`` file a text names exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"shared/(docs|data)|comfyui-host\.md|peers\.md|environment\.md|\bmethods(\.md)? \d")
DOCS_PATH = re.compile(r"(?<![\w/])docs/[\w.-]+\.md")
# A section cited after a docs page, e.g. ``docs/methods.md``, "OnePoseTrans" or docs/methods.md (CFLD).
DOCS_SECTION = re.compile(r"(?<![\w/])(docs/[\w.-]+\.md)`{0,2}(?:,\s*|\s+\()"
                          r"\"?([A-Z][\w.+-]*(?: [\w.+-]+)*?)\"?\s*[,;)]")
DOCS_NUMBER = re.compile(r"(?<![\w/])docs/[\w.-]+\.md`{0,2}[,\s(\"]*(?:sections?\s*|§\s*)?\d")
HEADING = re.compile(r"^#+ (.+?)(?: \(.*\))?$", re.M)


def _tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    return [REPO_ROOT / n for n in names if n.endswith((".py", ".md", ".js", ".sh", ".toml", ".txt"))
            and n != "LICENSE"]


def test_no_reference_outside_the_repository():
    hits = []
    for path in _tracked_text_files():
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line) and path.name != Path(__file__).name:
                hits.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not hits, "references outside the repository:\n" + "\n".join(hits)


def test_named_docs_exist():
    missing = sorted({f"{path.relative_to(REPO_ROOT)}: {m}" for path in _tracked_text_files()
                      for m in DOCS_PATH.findall(path.read_text(errors="replace"))
                      if not (REPO_ROOT / m).is_file() and not m.startswith("docs/<")})
    assert not missing, missing


def test_cited_sections_exist():
    """Docs are cited by section title (a number would go stale); every cited title is a heading there."""
    headings = {f"docs/{page.name}": set(HEADING.findall(page.read_text()))
                for page in (REPO_ROOT / "docs").glob("*.md")}
    wrong = sorted({f"{path.relative_to(REPO_ROOT)}: {page}, {title!r}" for path in _tracked_text_files()
                    for page, title in DOCS_SECTION.findall(path.read_text(errors="replace"))
                    if title not in headings.get(page, set())})
    numbered = sorted({f"{path.relative_to(REPO_ROOT)}: {m.group(0)!r}" for path in _tracked_text_files()
                       for m in DOCS_NUMBER.finditer(path.read_text(errors="replace"))})
    assert not numbered, "cite sections by title:\n" + "\n".join(numbered)
    assert not wrong, f"sections not found (headings: {headings}):\n" + "\n".join(wrong)
