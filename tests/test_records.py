"""precomputed/ records: round-trip, atomic resume, and clear errors for corrupt or incomplete records."""

import json

import pytest
from PIL import Image

from lib.errors import RecordError
from lib.records import RecordWriter, iter_records, load_record


def _write(root, ids=("a", "b"), finish=True):
    w = RecordWriter(root, "demo", "two grey squares", "miniature")
    for i, item_id in enumerate(ids):
        stages = [{"name": "denoising", "seconds": 0.1, "peak_bytes": 10, "weights_bytes": 5}]
        w.add({"id": item_id, "config": {"seed": i}, "stages": stages}, Image.new("RGB", (8, 8), (i * 40,) * 3))
    return w.finish() if finish else w


def test_record_round_trips_with_images_and_provenance(tmp_path):
    rec = _write(tmp_path)
    again = load_record(tmp_path / "demo")
    assert again == rec
    assert rec["source"] == "miniature" and rec["complete"]
    assert {"python", "torch", "diffusers", "transformers", "gguf"} <= set(rec["versions"])
    assert rec["device"]["memory_bytes"] > 0
    assert Image.open(tmp_path / "demo" / "b.png").getpixel((0, 0)) == (40, 40, 40)
    assert [r["name"] for r in iter_records(tmp_path)] == ["demo"]


def test_truncated_record_fails_naming_the_file(tmp_path):
    _write(tmp_path)
    path = tmp_path / "demo" / "record.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(RecordError, match=f"{path}: corrupt or truncated JSON"):
        load_record(path)


def test_record_with_a_missing_image_or_field_fails(tmp_path):
    _write(tmp_path)
    (tmp_path / "demo" / "a.png").unlink()
    with pytest.raises(RecordError, match="a.png: image of item 'a' is missing"):
        load_record(tmp_path / "demo")
    path = tmp_path / "demo" / "record.json"
    path.write_text(json.dumps({"format": "dme-record/1"}))
    with pytest.raises(RecordError, match="missing fields name"):
        load_record(path)


def test_unfinished_run_is_incomplete_and_resume_skips_finished_items(tmp_path):
    _write(tmp_path, ids=("a",), finish=False)
    with pytest.raises(RecordError, match="did not finish"):
        load_record(tmp_path / "demo")
    w = RecordWriter(tmp_path, "demo", "two grey squares", "miniature")
    assert w.done("a") and not w.done("b")
    assert not list(tmp_path.glob("demo/.*"))  # no temp files left behind


def test_a_record_from_another_source_is_not_resumed(tmp_path):
    _write(tmp_path, ids=("a",), finish=False)
    w = RecordWriter(tmp_path, "demo", "two grey squares", "weights")
    assert not w.done("a")
