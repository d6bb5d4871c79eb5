"""Chapter 6 and the results page compute their numbers from records: speedups, totals, real-weights rows only."""

from __future__ import annotations

import pytest
from PIL import Image

from lib.chapters import comparison
from lib.prompts import BENCHMARK_PROMPTS
from lib.records import RecordWriter
from record_factory import make_item


def _compare(root, source, sd3_s=4.0, flux_s=1.0):
    w = RecordWriter(root, "compare", "test", source)
    for p in BENCHMARK_PROMPTS:
        for model, s in (("sd3", sd3_s), ("flux", flux_s)):
            w.add(make_item(f"{model}-{p.id}", source, model=f"{model}-x", seconds=s, peak_bytes=2**30,
                            config={"model": model, "steps": 4, "width": 64, "height": 64, "quantization": "none"}),
                  Image.new("RGB", (8, 8)))
    return w.finish()


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
    assert set(table["chip"]) == {"Test CPU"}  # each row names the machine its item was made on


def test_interactive_grid_has_one_image_per_model_and_prompt(tmp_path):
    fig = comparison.interactive_grid(_compare(tmp_path, "miniature"))
    assert len(fig.data) == 2 * len(BENCHMARK_PROMPTS)
    assert "miniature" in fig.layout.title.text


def test_benchmark_figure_ticks_its_log_axis_at_the_step_counts_run(tmp_path):
    w = RecordWriter(tmp_path, "benchmark", "test", "miniature")
    w.add(make_item("x"), Image.new("RGB", (8, 8)))
    rows = [{"model": m, "steps": s, "denoising_s": 0.1 * s} for m in ("sd3-medium", "flux-schnell") for s in (1, 2, 4)]
    w.set_table("benchmark", rows)
    fig = comparison.benchmark_figure(w.finish())
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.tickvals) == [1, 2, 4]
    assert [t.name for t in fig.data] == ["sd3-medium", "flux-schnell"]  # a legend with both models
    assert fig.layout.width is None and fig.layout.legend.y < 0
