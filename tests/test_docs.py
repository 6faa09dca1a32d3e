"""The documentation users read: README.md, docs/ and benchmarks/README.md.

- no machine paths (a temp folder, the checkout's location, a home folder), no clock time of a run
  and none of the wording about how measurements were organised, which mean nothing to a user;
- benchmarks/README.md is what benchmarks/summarize.py writes from benchmarks/measured/;
- the reference pages render from the schemas and option models.

`mkdocs build --strict` itself (broken links, missing pages) runs in .ci/run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").rglob("*.md"))]

RULED_OUT = {
    "machine path": re.compile(r"(?<![\w.<>~-])/(tmp|work|root|home)/"),
    "clock time": re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\s*(UTC|GMT|AM|PM)\b|\bat \d{1,2}:\d{2}\b|"
                             r"\b\d{1,2}:\d{2}\s*[–-]\s*\d{1,2}:\d{2}\b"),
    "how the measuring was organised": re.compile(
        r"\bthis session\b|\b(earlier|other|previous|later|these) sessions?\b|\bleases?\b|\bleased\b|\blent\b",
        re.I),
}


def findings(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in RULED_OUT.items():
            match = pattern.search(line)
            if match:
                found.append(f"{number}: {what}: {match.group(0)!r}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_machine_paths_clock_times_or_organising_notes(page):
    found = findings(page.read_text())
    assert not found, f"{page.relative_to(REPO)}:\n" + "\n".join(found)


def test_the_patterns_catch_what_they_are_for():
    assert findings("bundle in /tmp/cold30/bundle") and findings("cd /work/main") and findings("/root/out")
    assert findings("ran at 18:52 UTC") and findings("at 10:30 on a VM") and findings("10:22-10:29")
    assert findings("on the lent Xeon") and findings("in this session") and findings("a fresh lease")
    assert not findings("`<bundle>/report.html`, key_file: ~/.ssh/id_ed25519, {1: sequence}, 2:1, /usr/src")
    assert not findings("ONNX Runtime's session profiler, an InferenceSession")


def test_benchmarks_readme_is_what_summarize_writes():
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "summarize.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_raw_output_names_cpu_flags_commit_date_and_command():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import summarize
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    for path in sorted(p for p in (REPO / "benchmarks" / "measured").rglob("*") if p.is_file()):
        summarize.read_header(path)  # raises naming the file and the missing keys
        assert not RULED_OUT["machine path"].search(path.read_text()), f"{path}: a machine path"


@pytest.mark.parametrize("page", ["recipe", "target", "backend-options"])
def test_reference_pages_render(page):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import docs_recipe_reference
    finally:
        sys.path.remove(str(REPO / "scripts"))
    text = docs_recipe_reference.render(page)
    assert text.startswith("# ") and "| key | type | default | description |" in text
