"""Chapter 6 and the results page compute their numbers from records: speedups, totals, real-weights rows only."""

from __future__ import annotations

import pytest
from PIL import Image

from lib import comparison
from lib.prompts import BENCHMARK_PROMPTS
from lib.records import RecordWriter


def _compare(root, source, sd3_s=4.0, flux_s=1.0):
    w = RecordWriter(root, "compare", "test", source)
    for p in BENCHMARK_PROMPTS:
        for model, s in (("sd3", sd3_s), ("flux", flux_s)):
            w.add({"id": f"{model}-{p.id}", "model": f"{model}-x", "seed": 42, "seconds": s, "peak_bytes": 2**30,
                   "config": {"model": model, "steps": 4, "width": 64, "height": 64, "quantization": "none"},
                   "stages": []}, Image.new("RGB", (8, 8)))
    record = w.finish()
    record["_folder"] = str(w.folder)
    return record


def test_speedup_is_sd3_seconds_over_flux_seconds(tmp_path):
    rows = comparison.timing_rows(_compare(tmp_path, "miniature", sd3_s=6.0, flux_s=1.5))
    assert [r["speedup (SD3 / FLUX)"] for r in rows] == [4.0] * len(BENCHMARK_PROMPTS)
    table = comparison.timing_table(_compare(tmp_path / "b", "miniature", sd3_s=6.0, flux_s=1.5))
    assert table.iloc[-1]["SD3 Medium (s)"] == pytest.approx(6.0 * len(BENCHMARK_PROMPTS))


def test_results_table_lists_only_real_weights_records(tmp_path):
    mini = _compare(tmp_path / "mini", "miniature")
    real = _compare(tmp_path / "real", "weights")
    assert comparison.results_table([mini]).empty
    table = comparison.results_table([mini, real])
    assert len(table) == 2 * len(BENCHMARK_PROMPTS)
    assert set(table["peak memory (GiB)"]) == {1.0}


def test_interactive_grid_has_one_image_per_model_and_prompt(tmp_path):
    fig = comparison.interactive_grid(_compare(tmp_path, "miniature"))
    assert len(fig.data) == 2 * len(BENCHMARK_PROMPTS)
    assert "miniature" in fig.layout.title.text
