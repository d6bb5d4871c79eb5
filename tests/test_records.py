"""precomputed/ records: round trip, strict validation naming the file and the repair command, atomic
writes with normal permissions, resume only of identical settings, provenance kept as made, migration."""

import json
import os
import stat

import pytest
from PIL import Image

from lib.errors import RecordError
from lib.records import FORMAT, RecordWriter, iter_records, load_record, migrate, remove_stale_temps
from record_factory import make_item, write_record


def _edit(folder, change):
    path = folder / "record.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def test_record_round_trips_with_images_and_per_item_provenance(tmp_path):
    rec = write_record(tmp_path)
    again = load_record(tmp_path / "demo")
    assert again == rec and rec.complete and rec.source == "miniature"
    assert [it["id"] for it in rec.items] == ["a", "b"]
    assert rec.device["chip"] == "Test CPU" and rec.versions["lib"] == "0.1.0"  # summary derived from items
    assert rec.image("b").getpixel((0, 0)) == (40, 40, 40)
    assert [r.name for r in iter_records(tmp_path)] == ["demo"]
    assert json.loads(rec.path.read_text())["format"] == FORMAT


def test_record_files_get_normal_permissions_not_the_temp_files_0600(tmp_path):
    old = os.umask(0o022)
    try:
        rec = write_record(tmp_path)
    finally:
        os.umask(old)
    for path in (rec.path, rec.image_path("a")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


@pytest.mark.parametrize(
    "change, says",
    [
        (lambda d: d.update(items=5), "items must be a list"),
        (lambda d: d.update(files=[]), "files must be an object"),
        (lambda d: d["items"][0].pop("image"), "image must be a string"),
        (lambda d: d["items"][0].update(image="../../../../etc/hostname"), "is not a file name inside"),
        (lambda d: d["items"][0].update(image="/etc/hostname"), "is not a file name inside"),
        (lambda d: d["items"][0].update(seed="42"), "seed must be an integer"),
        (lambda d: d["items"][0].update(seconds=True), "seconds must be an integer or a number"),
        (lambda d: d["items"][0].pop("made"), "provenance (made) must be an object"),
        (lambda d: d["items"][1].update(id="a"), "appears twice"),
        (lambda d: d.update(name="other"), "does not match its folder"),
        (lambda d: d.update(source="internet"), "is not one of miniature"),
        (lambda d: d.update(format="dme-record/9"), "is not 'dme-record/2'"),
        (lambda d: d.update(complete=False), "did not finish"),
    ],
)
def test_a_malformed_record_names_its_file_and_the_repair_command(tmp_path, change, says):
    write_record(tmp_path / "miniature")
    path = _edit(tmp_path / "miniature" / "demo", change)
    with pytest.raises(RecordError) as err:
        load_record(path)
    message = str(err.value)
    assert says in message and str(path) in message
    assert "python -m lib precompute --miniature --random-weights --only demo" in message  # random-weight miniature
    assert "Traceback" not in message


def test_a_truncated_png_fails_at_load_naming_the_image(tmp_path):
    rec = write_record(tmp_path)
    png = rec.image_path("a")
    png.write_bytes(png.read_bytes()[:40])
    with pytest.raises(RecordError, match=f"{png}: image of item 'a' does not decode"):
        load_record(tmp_path / "demo")


def test_a_truncated_json_fails_naming_the_file(tmp_path):
    write_record(tmp_path)
    path = tmp_path / "demo" / "record.json"
    path.write_text(path.read_text()[:50])
    with pytest.raises(RecordError, match=f"{path}: corrupt or truncated JSON"):
        load_record(path)


def test_a_real_weights_record_gets_the_repair_command_without_miniature(tmp_path):
    write_record(tmp_path / "weights" / "m2", source="weights")
    path = _edit(tmp_path / "weights" / "m2" / "demo", lambda d: d.update(items=5))
    with pytest.raises(RecordError, match=r"python -m lib precompute --only demo --out .*m2 --overwrite"):
        load_record(path)


def test_unfinished_run_resumes_only_its_finished_items(tmp_path):
    w = write_record(tmp_path, ids=("a",), finish=False)
    planned = [{"id": i, "config": {"seed": 42, "steps": 4}, "source": "miniature", "build": "test", "lib": "0.1.0"}
               for i in ("a", "b")]
    with pytest.raises(RecordError, match="did not finish"):
        load_record(w.folder)
    again = RecordWriter(tmp_path, "demo", "grey squares", "miniature")
    assert [p["id"] for p in again.plan(planned)] == ["b"]


def test_stored_items_of_other_settings_are_refused_or_replaced_with_overwrite(tmp_path):
    write_record(tmp_path)
    planned = [{"id": i, "config": {"seed": 7, "steps": 4}, "source": "miniature", "build": "test", "lib": "0.1.0"}
               for i in ("a", "b")]
    with pytest.raises(RecordError, match=r"other settings \(a: seed: 42 -> 7; b: seed: 42 -> 7\).*--overwrite"):
        RecordWriter(tmp_path, "demo", "grey squares", "miniature").plan(planned)
    assert load_record(tmp_path / "demo").items[0]["config"]["seed"] == 42  # refused: nothing lost
    w = RecordWriter(tmp_path, "demo", "grey squares", "miniature", overwrite=True)
    assert [p["id"] for p in w.plan(planned)] == ["a", "b"]  # afresh


def test_an_item_not_in_the_run_or_of_another_build_or_library_is_stale(tmp_path):
    write_record(tmp_path)
    base = {"config": {"seed": 42, "steps": 4}, "source": "miniature", "build": "test", "lib": "0.1.0"}
    w = RecordWriter(tmp_path, "demo", "grey squares", "miniature")
    with pytest.raises(RecordError, match="b: not part of this run"):
        w.plan([{"id": "a", **base}])
    with pytest.raises(RecordError, match="build: 'test' -> 'miniature-9'"):
        w.plan([{"id": i, **base, "build": "miniature-9"} for i in "ab"])
    with pytest.raises(RecordError, match="library version: '0.1.0' -> '0.2.0'"):
        w.plan([{"id": i, **base, "lib": "0.2.0"} for i in "ab"])


def test_a_record_from_another_source_is_refused_not_resumed(tmp_path):
    write_record(tmp_path, ids=("a",), finish=False)
    with pytest.raises(RecordError, match="source 'miniature', not 'weights'"):
        RecordWriter(tmp_path, "demo", "grey squares", "weights")
    assert not RecordWriter(tmp_path, "demo", "grey squares", "weights", overwrite=True).done("a")


def test_resume_keeps_each_items_provenance_as_made(tmp_path):
    write_record(tmp_path, ids=("a",), finish=False, made={"device": {"device": "mps", "chip": "Apple M2"}})
    w = RecordWriter(tmp_path, "demo", "grey squares", "miniature")
    w.add(make_item("b"), Image.new("RGB", (8, 8)))
    rec = w.finish()
    assert rec.item("a")["made"]["device"]["chip"] == "Apple M2"  # not rewritten by the resumed run
    assert rec.item("b")["made"]["device"]["chip"] == "Test CPU"
    assert [d["chip"] for d in rec.devices] == ["Apple M2", "Test CPU"]


def test_temp_files_of_a_killed_write_are_removed_on_the_next_run(tmp_path):
    write_record(tmp_path)
    stale = tmp_path / "demo" / ".a.png.dme-tmp-1234abcd"
    stale.write_bytes(b"half a png")
    RecordWriter(tmp_path, "demo", "grey squares", "miniature")
    assert not stale.exists()
    assert remove_stale_temps(tmp_path / "nowhere") == []


def test_finish_removes_images_the_record_no_longer_lists(tmp_path):
    write_record(tmp_path)
    w = RecordWriter(tmp_path, "demo", "grey squares", "miniature", overwrite=True)
    w.plan([{"id": "c", "config": {}, "source": "miniature", "build": "test", "lib": "0.1.0"}])
    w.add(make_item("c"), Image.new("RGB", (8, 8)))
    w.finish()
    assert sorted(p.name for p in (tmp_path / "demo").glob("*.png")) == ["c.png"]


def test_a_format_1_record_is_refused_with_the_migrate_command_and_migrates(tmp_path):
    rec = write_record(tmp_path)
    v1 = {"format": "dme-record/1", "name": "demo", "description": "d", "source": "miniature",
          "miniature_version": "3", "created": "2026-11-21T22:18:24+00:00", "complete": True,
          "device": {"device": "cpu", "chip": "Intel(R) Xeon(R) Processor", "memory_bytes": 1},
          "versions": {"torch": "2.13.0"}, "files": {}, "tables": {},
          "items": [{**{k: v for k, v in it.items() if k != "made"}, "device": "cpu"} for it in rec.items]}
    rec.path.write_text(json.dumps(v1))
    with pytest.raises(RecordError, match="python -m lib.records migrate"):
        load_record(rec.folder)
    assert migrate(tmp_path) == [rec.path]
    new = load_record(rec.folder)
    made = new.item("a")["made"]
    assert made["device"]["chip"] == "Intel(R) Xeon(R) Processor" and made["build"] == "miniature-3"
    assert made["created"] == "2026-11-21T22:18:24+00:00" and made["versions"]["lib"] is None
    assert "device" not in new.item("a")


def test_reading_one_record_by_name_ignores_a_broken_record_elsewhere(tmp_path):
    from lib.chapters.session import find_record

    write_record(tmp_path / "miniature", name="wanted")
    write_record(tmp_path / "miniature", name="broken")
    _edit(tmp_path / "miniature" / "broken", lambda d: d.update(items=5))
    assert find_record(tmp_path, "wanted").name == "wanted"
    with pytest.raises(RecordError, match="broken"):
        find_record(tmp_path, "broken")


def test_resume_compares_the_resolved_dtype_and_device_too(tmp_path):
    write_record(tmp_path)
    base = {"config": {"seed": 42, "steps": 4}, "source": "miniature", "build": "test", "lib": "0.1.0"}
    w = RecordWriter(tmp_path, "demo", "grey squares", "miniature")
    assert [p["id"] for p in w.plan([{"id": i, **base, "dtype": "float32", "device": "cpu"} for i in "ab"])] == []
    with pytest.raises(RecordError, match="dtype: 'float32' -> 'bfloat16'.*device: 'cpu' -> 'mps'"):
        w.plan([{"id": i, **base, "dtype": "bfloat16", "device": "mps"} for i in "ab"])


def test_a_rehearsal_record_names_the_rehearse_command(tmp_path):
    write_record(tmp_path / "m", name="rehearsal-flux-staged", source="random-weights-full-size")
    path = _edit(tmp_path / "m" / "rehearsal-flux-staged", lambda d: d.update(items=5))
    with pytest.raises(RecordError, match="python -m lib rehearse --only flux-staged --out .* --rerun"):
        load_record(path)
