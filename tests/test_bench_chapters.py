"""The chapter benchmark (lib.tools.bench_chapters): runs a chapter in a fresh kernel as the build does, prints
where it measured, and fails a chapter that breaks or runs over its budget."""

from __future__ import annotations

from lib.tools import bench_chapters

CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
import os
assert os.environ["DME_BOOK_BUILD"] == "1"
%s
```
"""


def test_a_chapter_is_timed_with_the_machine_and_versions_and_a_broken_one_fails(tmp_path, capsys, monkeypatch):
    for name in ("DME_BOOK_BUILD", "MPLBACKEND"):  # the benchmark sets them for its kernels: restored afterwards
        monkeypatch.delenv(name, raising=False)
    good, bad = tmp_path / "good.md", tmp_path / "bad.md"
    good.write_text(CHAPTER % "x = 1")
    bad.write_text(CHAPTER % "raise ValueError('a broken cell')")
    assert bench_chapters.main([str(good), "--budget", "120"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: {") and '"torch"' in out.splitlines()[1]
    assert "good.md:" in out and "ok" in out
    assert bench_chapters.main([str(good), str(bad), str(tmp_path / "missing.md"), "--budget", "120"]) == 1
    out = capsys.readouterr().out
    assert "bad.md: FAILED" in out and "missing.md: no such file" in out
    assert bench_chapters.main([str(good), "--budget", "0"]) == 1
    assert "OVER BUDGET" in capsys.readouterr().out
