"""The live/stored switch, record preference and the provenance note of chapters 4-6."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.chapters import open_chapter, pick, resolve_mode
from lib.chapters.provenance import kind, notice, records_table, shown_whole, summary
from lib.chapters.session import all_records
from lib.chapters.switch import miniature_requested, requested_mode, weights_in_cache
from lib.errors import ConfigError, RecordError
from record_factory import write_record

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


def _record(root, name, source, created="2026-11-01T00:00:00+00:00"):
    return write_record(root, name, source, ids=("x",), made={"created": created})


def test_a_real_weights_record_is_preferred_over_a_miniature_one(tmp_path):
    _record(tmp_path / "miniature", "flux-prompts", "miniature")
    _record(tmp_path / "m2-16gb", "flux-prompts", "weights")
    chosen = pick(all_records(tmp_path), "flux-prompts")
    assert chosen.source == "weights"
    assert str(chosen.folder).endswith("m2-16gb/flux-prompts")


def test_miniature_records_carry_a_notice_and_real_ones_do_not(tmp_path):
    mini = _record(tmp_path / "a", "r", "miniature")
    real = _record(tmp_path / "b", "r", "weights")
    assert "random" in notice(mini)._repr_html_().lower()
    assert "admonition warning" in notice(mini)._repr_html_()
    assert notice(real).text is None and "admonition" not in notice(real)._repr_html_()
    assert "random" in notice([real, mini]).text  # one miniature record among real ones is enough
    assert notice(mini).title.startswith("Random-weight")


def test_a_trained_miniature_notice_is_titled_as_one_not_as_random_weights(tmp_path):
    trained = _record(tmp_path / "c", "r", "trained-miniature")
    mini = _record(tmp_path / "a", "r", "miniature")
    html = notice(trained)._repr_html_()
    assert "Trained miniatures, not the real models" in html and "Random" not in html
    assert notice([trained, mini]).title.startswith("Random-weight")  # random weights among them: the stronger warning


def test_provenance_table_names_each_record_with_source_device_versions_and_date(tmp_path):
    mini = _record(tmp_path / "a", "flux-prompts", "miniature")
    real = _record(tmp_path / "b", "compare", "weights", "2026-12-24T00:00:00+00:00")
    table = records_table([mini, real])
    assert list(table.index) == ["flux-prompts", "compare"]  # one row per record, in the page's order
    row = table.loc["flux-prompts"]
    assert row["source"] == "miniature" and row["made"] == "2026-11-01"
    assert "Test CPU" in row["machine"]
    assert mini.versions["torch"] in row["versions"] and mini.versions["diffusers"] in row["versions"]
    assert table.loc["compare", "made"] == "2026-12-24"


def test_provenance_table_shows_long_cells_whole_with_a_stable_id(tmp_path):
    table = records_table([_record(tmp_path, "r", "miniature")])
    table.loc["r", "what it holds"] = "a description far longer than the fifty characters pandas keeps"
    html = shown_whole(table, "ch9-records")._repr_html_()
    assert "far longer than the fifty characters pandas keeps" in html
    assert 'id="T_ch9-records"' in html and html == shown_whole(table, "ch9-records")._repr_html_()


def test_provenance_summary_warns_only_when_a_record_is_not_from_the_real_weights(tmp_path):
    mini = _record(tmp_path / "a", "r", "miniature")
    real = _record(tmp_path / "b", "r", "weights")
    full = _record(tmp_path / "c", "rehearsal-x", "random-weights-full-size")
    both = summary([real, mini, full])
    assert both.startswith("This page reads 3 records")
    assert "noise-like" in both and "CPU times" in both and "python -m lib precompute" in both
    assert "noise" not in summary([real]) and "reads 1 record:" in summary([real])
    assert kind(mini).endswith("not real output") and kind(real) == "real weights"


def test_stored_chapter_without_its_records_says_how_to_make_them(tmp_path):
    with pytest.raises(RecordError, match="python -m lib precompute"):
        open_chapter("ch5", mode="stored", root=tmp_path)


def test_unknown_chapter_is_refused():
    with pytest.raises(ConfigError, match="ch4"):
        open_chapter("ch9", mode="stored")


def test_among_records_of_one_source_the_newest_is_used(tmp_path):
    older = _record(tmp_path / "a", "compare", "miniature", "2026-01-01T00:00:00+00:00")
    newer = _record(tmp_path / "b", "compare", "miniature", "2026-06-01T00:00:00+00:00")
    assert pick([older, newer], "compare") is newer
    assert pick([newer, older], "compare") is newer
    assert pick([older], "benchmark") is None


@pytest.mark.parametrize("value, expected", [("1", True), ("yes", True), ("0", False), ("", False), ("off", False)])
def test_dme_miniature_is_on_or_off(monkeypatch, value, expected):
    monkeypatch.setenv("DME_MINIATURE", value)
    assert miniature_requested() is expected


@pytest.mark.parametrize("value", ["2", "maybe", "-1"])
def test_dme_miniature_with_another_value_is_an_error_not_false(monkeypatch, value):
    monkeypatch.setenv("DME_MINIATURE", value)
    with pytest.raises(ConfigError, match="DME_MINIATURE=1 for the miniature"):
        miniature_requested()


def test_a_live_temp_folder_is_removed_when_the_process_exits(tmp_path):
    code = "from lib.chapters.switch import live_dir; d = live_dir('ch5', True); print(d); print(d.is_dir())"
    env = {k: v for k, v in os.environ.items() if k != "DME_LIVE_DIR"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    folder, existed = out.split()
    assert existed == "True" and not Path(folder).exists()


def test_a_chapter_reads_only_its_records_so_a_broken_one_elsewhere_does_not_stop_it(tmp_path):
    for name in ("flux-prompts", "flux-step-sweep", "flux-staged-vs-unstaged", "compare"):
        _record(tmp_path / "miniature", name, "miniature")
    (tmp_path / "miniature" / "compare" / "record.json").write_text("{broken")
    session = open_chapter("ch5", mode="stored", root=tmp_path)
    assert session.record("flux-prompts").name == "flux-prompts"
    with pytest.raises(RecordError, match="compare/record.json: corrupt"):
        open_chapter("ch6", mode="stored", root=tmp_path)


# Inside a book build, `auto` never goes live: only DME_MODE=live runs models during a build.

@pytest.mark.parametrize(
    "env_mode, miniature, expected",
    [
        (None, "0", "stored"),  # auto by default
        ("auto", "0", "stored"),
        ("auto", "1", "stored"),  # not even the miniature models
        ("live", "0", "live"),
        ("stored", "1", "stored"),
    ],
)
def test_auto_is_stored_inside_a_book_build(monkeypatch, env_mode, miniature, expected):
    monkeypatch.setenv("DME_BOOK_BUILD", "1")
    monkeypatch.setenv("DME_MINIATURE", miniature)
    if env_mode is None:
        monkeypatch.delenv("DME_MODE", raising=False)
    else:
        monkeypatch.setenv("DME_MODE", env_mode)
    assert resolve_mode(MODELS, weights=YES, accelerator=YES) == expected


def test_auto_outside_a_book_build_still_probes(monkeypatch):
    monkeypatch.delenv("DME_BOOK_BUILD", raising=False)
    monkeypatch.setenv("DME_MODE", "auto")
    monkeypatch.setenv("DME_MINIATURE", "0")
    assert resolve_mode(MODELS, weights=YES, accelerator=YES) == "live"
    assert resolve_mode(MODELS, weights=YES, accelerator=NO) == "stored"


def test_the_book_build_tells_its_kernels_that_they_run_in_a_build(monkeypatch):
    """lib.tools.sphinx_assets (the build's Sphinx extension) sets DME_BOOK_BUILD=1 in the build process; kernels,
    started by myst-nb as child processes, inherit it (checked with a real `jupyter-book build`, 2026-11)."""
    from lib.tools import sphinx_assets

    monkeypatch.delenv("DME_BOOK_BUILD", raising=False)
    monkeypatch.delenv("DME_MODE", raising=False)
    app = type("App", (), {"add_js_file": lambda *a, **k: None, "connect": lambda *a, **k: None})()
    sphinx_assets.setup(app)
    code = "from lib.chapters.switch import environment_mode; print(environment_mode())"
    kernel = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert kernel.stdout.split()[-1] == "stored"


def test_records_sharing_a_name_get_distinct_rows(tmp_path):
    """The results page lists every record; the random and the trained miniature both write sd3-prompts-t5."""
    a, b = _record(tmp_path / "miniature", "r", "miniature"), _record(tmp_path / "trained", "r", "trained-miniature")
    table = records_table([a, b])
    assert table.index.is_unique and list(table.index) == ["r (miniature)", "r (trained-miniature)"]
    shown_whole(table, "t").to_html()  # pandas' Styler refuses a non-unique index
