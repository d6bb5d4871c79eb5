"""The live/stored switch, record preference and provenance captions of chapters 4-6."""

from __future__ import annotations

import pytest
from PIL import Image

from lib.chapters import open_chapter, pick, resolve_mode
from lib.chapters.provenance import caption, notice
from lib.chapters.session import all_records
from lib.chapters.switch import requested_mode, weights_in_cache
from lib.errors import ConfigError, RecordError
from lib.records import RecordWriter

YES, NO = (lambda *a: True), (lambda *a: False)
MODELS = ("sd3-medium",)


@pytest.mark.parametrize(
    "mode, miniature, weights, accelerator, expected",
    [
        ("stored", False, YES, YES, "stored"),  # stored wins even with everything present
        ("live", False, NO, NO, "live"),  # live is obeyed (loading then says what is missing)
        ("auto", False, YES, YES, "live"),
        ("auto", False, YES, NO, "stored"),  # weights but no accelerator
        ("auto", False, NO, YES, "stored"),  # accelerator but no weights
        ("auto", True, NO, NO, "live"),  # miniature models need neither
    ],
)
def test_resolve_mode_follows_the_documented_table(mode, miniature, weights, accelerator, expected):
    assert resolve_mode(MODELS, mode, miniature, weights, accelerator) == expected


def test_environment_chooses_the_mode_and_defaults_to_auto(monkeypatch):
    monkeypatch.delenv("DME_MODE", raising=False)
    assert requested_mode() == "auto"
    monkeypatch.setenv("DME_MODE", "Stored")
    assert requested_mode() == "stored"
    monkeypatch.setenv("DME_MODE", "sometimes")
    with pytest.raises(ConfigError, match="auto, stored, live"):
        requested_mode()


def test_auto_is_stored_on_a_machine_without_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty Hugging Face cache
    monkeypatch.delenv("DME_MINIATURE", raising=False)
    assert not weights_in_cache(("sd3-medium", "flux-schnell"))
    assert resolve_mode(("flux-schnell",), "auto") == "stored"


def _record(root, name, source, created_tag="a"):
    w = RecordWriter(root, name, f"test {source}", source)
    w.add({"id": "x", "stages": [], "seconds": 1.0, "peak_bytes": 1}, Image.new("RGB", (8, 8)))
    return w.finish()


def test_a_real_weights_record_is_preferred_over_a_miniature_one(tmp_path):
    _record(tmp_path / "miniature", "flux-prompts", "miniature")
    _record(tmp_path / "m2-16gb", "flux-prompts", "weights")
    chosen = pick(all_records(tmp_path), "flux-prompts")
    assert chosen["source"] == "weights"
    assert chosen["_folder"].endswith("m2-16gb/flux-prompts")


def test_miniature_records_carry_a_notice_and_real_ones_do_not(tmp_path):
    mini = _record(tmp_path / "a", "r", "miniature")
    real = _record(tmp_path / "b", "r", "weights")
    assert "random" in notice(mini)._repr_html_().lower()
    assert "admonition warning" in notice(mini)._repr_html_()
    assert notice(real).text is None and "admonition" not in notice(real)._repr_html_()
    assert "random" in notice([real, mini]).text  # one miniature record among real ones is enough


def test_caption_names_device_versions_date_and_source(tmp_path):
    record = _record(tmp_path, "r", "miniature")
    text = caption(record)
    assert "source: miniature" in text
    assert record["versions"]["torch"] in text and record["versions"]["diffusers"] in text
    assert record["created"][:10] in text
    assert str(record["device"]["chip"]) in text


def test_stored_chapter_without_its_records_says_how_to_make_them(tmp_path):
    with pytest.raises(RecordError, match="python -m lib precompute"):
        open_chapter("ch5", mode="stored", root=tmp_path)


def test_unknown_chapter_is_refused():
    with pytest.raises(ConfigError, match="ch4"):
        open_chapter("ch9", mode="stored")


def test_among_records_of_one_source_the_newest_is_used():
    older = {"name": "compare", "source": "miniature", "created": "2026-01-01T00:00:00+00:00", "_folder": "a"}
    newer = {"name": "compare", "source": "miniature", "created": "2026-06-01T00:00:00+00:00", "_folder": "b"}
    assert pick([older, newer], "compare")["_folder"] == "b"
    assert pick([newer, older], "compare")["_folder"] == "b"
    assert pick([older], "benchmark") is None
