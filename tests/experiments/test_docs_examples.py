"""Every ```python block of docs/api.md runs as it is (from a scratch folder that sees the
repository's experiments/), so the documented examples cannot go stale."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api.md"


def python_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(heading slug and index, first line number, code)`` of each ```python block."""
    blocks, heading, count = [], "top", {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = re.sub(r"[^a-z0-9]+", "-", line.lstrip("#").strip().lower()).strip("-")
        elif line.strip() == "```python":
            end = lines.index("```", i + 1)
            count[heading] = count.get(heading, 0) + 1
            blocks.append((f"{heading}-{count[heading]}", i + 2, "\n".join(lines[i + 1:end]) + "\n"))
            i = end
        i += 1
    return blocks


BLOCKS = python_blocks(DOC.read_text())


def test_the_doc_has_every_example_the_api_promises():
    names = " ".join(name for name, _, _ in BLOCKS)
    for topic in ("train-on-an-env-id", "an-env-you-made", "predict", "save-load-evaluate", "resuming",
                  "callbacks", "tensorboard", "a-loop-of-your-own", "observation-normalization"):
        assert topic in names, topic
    assert "make_vec" in DOC.read_text() and "def make_corridor" in DOC.read_text()


@pytest.mark.parametrize("name, line, code", BLOCKS, ids=[name for name, _, _ in BLOCKS])
def test_doc_example_runs(name, line, code, tmp_path, monkeypatch):
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")   # the pretrained files, read only
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{DOC}:{line}", "exec"), {"__name__": f"docs_api_{name}"})
