"""The records committed in precomputed/: every one validates, each chapter finds what it reads, the folder stays small."""

from __future__ import annotations

from pathlib import Path

import pytest

from lib.chapters import CHAPTERS, PRECOMPUTED, all_records, pick
from lib.prompts import BENCHMARK_PROMPTS
from lib.records import load_record

MAX_BYTES = 20 * 10**6


def test_every_committed_record_validates():
    paths = sorted(PRECOMPUTED.rglob("record.json"))
    assert paths, f"no record in {PRECOMPUTED}; run `python -m lib precompute --miniature`"
    for path in paths:
        load_record(path)  # raises RecordError naming the file


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_each_chapter_finds_the_records_it_reads(chapter):
    records = all_records(PRECOMPUTED)
    missing = [n for n in CHAPTERS[chapter]["records"] if pick(records, n) is None]
    assert not missing, f"{chapter} needs records {missing} in {PRECOMPUTED}"


def test_compare_record_has_both_models_on_every_prompt_and_its_pngs():
    compare = pick(all_records(PRECOMPUTED), "compare")
    ids = {it["id"] for it in compare["items"]}
    for p in BENCHMARK_PROMPTS:
        assert {f"sd3-{p.id}", f"flux-{p.id}"} <= ids
        assert f"side-{p.id}" in compare["files"]
    assert "comparison_grid" in compare["files"]
    assert (Path(compare["_folder"]) / compare["files"]["comparison_grid"]).is_file()


def test_benchmark_record_has_its_table():
    bench = pick(all_records(PRECOMPUTED), "benchmark")
    rows = bench["tables"]["benchmark"]
    assert {r["model"] for r in rows} == {"sd3-medium", "flux-schnell"}
    assert all(r["total_s"] > 0 for r in rows)


def test_precomputed_stays_well_under_twenty_megabytes():
    total = sum(p.stat().st_size for p in PRECOMPUTED.rglob("*") if p.is_file())
    assert total < MAX_BYTES, f"precomputed/ holds {total / 1e6:.1f} MB; keep it under {MAX_BYTES / 1e6:.0f} MB"
