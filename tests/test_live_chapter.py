"""Live mode end to end: chapter 5 re-executed in a fresh kernel with DME_MODE=live on the miniature models."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "05_flux_schnell_gguf.md"
PROBE = "print('MODE', session.mode, session.miniature); print('ROOT', session.root); print('SOURCES', session.sources)"


@pytest.mark.slow
def test_chapter_5_runs_live_on_the_miniature_models(monkeypatch, tmp_path):
    from lib.chapters.__main__ import execute_chapter

    monkeypatch.setenv("DME_MODE", "live")
    monkeypatch.setenv("DME_MINIATURE", "1")
    monkeypatch.setenv("DME_LIVE_DIR", str(tmp_path / "live"))  # fresh: nothing to resume, everything runs
    nb = execute_chapter(CHAPTER, PROBE, timeout=600)

    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "MODE live True" in text
    assert f"ROOT {tmp_path / 'live'}" in text
    assert "SOURCES ['miniature']" in text
    written = sorted(p.parent.name for p in (tmp_path / "live").rglob("record.json"))
    assert written == ["flux-prompts", "flux-staged-vs-unstaged", "flux-step-sweep"]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    # The notice is on the page, and the figures were made (glued) from the live records.
    html = "".join(str(o.get("data", {}).get("text/html", "")) for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))
    assert "admonition warning" in html
