"""The project's reference: every citation in code, help texts, recipes and data files names one of its sections."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITATION = re.compile(r"docs/reference\.md §((?:[A-Za-z0-9-]+(?:[ \t]+|\s*\n\s*[#\"']?\s*)?){1,5})")

NOTES_FILE = "FACTS" + ".md"
"""The maintainers' private notes, which no user has: nothing shipped may cite them."""


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / name for name in listed.split() if not name.startswith("docs/")]


def test_every_citation_resolves_to_a_section_and_nothing_cites_an_outside_file() -> None:
    headings = [
        line.lstrip("#").strip()
        for line in (ROOT / "docs/reference.md").read_text().splitlines()
        if line.startswith("## ")
    ]
    cited, unresolved = 0, []
    for path in tracked_files():
        if path.suffix not in {".py", ".md", ".yaml", ".json", ".toml"} or path.name == "test_reference.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert NOTES_FILE not in text, f"{path} cites a file users do not have"
        for match in CITATION.finditer(text):
            cited += 1
            words = " ".join(re.sub(r"[#\"']", " ", match.group(1)).split())
            if not any(words.startswith(heading) for heading in headings):
                unresolved.append(f"{path.relative_to(ROOT)}: §{words}")
    assert cited > 50 and not unresolved, unresolved
