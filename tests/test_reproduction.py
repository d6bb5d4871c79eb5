"""Reproductions of the trained miniatures (lib.miniature.trained.reproduction): a retrain's adherence rows against
the committed ones, the stored record chapter 6 shows, and the bad inputs the command refuses."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lib.chapters import reproduction as view
from lib.errors import RecordError
from lib.miniature.trained import TRAINED_DIR
from lib.miniature.trained import reproduction as rep
from lib.shapes.validate import wilson_interval

FILES = ("training.json", *rep.STUDIES.values())


def _retrain(tmp_path: Path, studies=("sd3", "flux", "unet"), shift: dict | None = None, name: str = "retrain") -> Path:
    """A retrain's folder: the committed records, with `studies` marked as made anew (new `made` and digest) and the
    rows named in `shift` (study -> (row index, new rate)) moved."""
    out = tmp_path / name
    out.mkdir()
    for name in FILES:
        shutil.copy(TRAINED_DIR / name, out / name)
    for study in studies:
        path = out / rep.STUDIES[study]
        data = json.loads(path.read_text())
        data["made"], data["weights"] = "2030-01-01T00:00:00Z", "0123456789ab"
        if shift and study in shift:
            index, rate = shift[study]
            row = data["rows"][index]
            k = round(rate * row["n"])
            row["scores"]["all"] = [k / row["n"], *wilson_interval(k, row["n"])]
        path.write_text(json.dumps(data))
    return out


def test_outside_chance_is_what_two_runs_with_one_true_rate_show():
    """The 'one time in six' the chapter prints: simulate pairs of 200-prompt runs of one true rate and count how
    often the second lands outside the first's Wilson interval (normal approximation against exact binomials: the
    tolerance covers the discreteness of 200 prompts and the spread of 20 000 draws)."""
    rng = np.random.default_rng(0)
    n, misses, draws = 200, 0, 20_000
    for p in (0.3, 0.5, 0.7):
        k1, k2 = rng.binomial(n, p, draws), rng.binomial(n, p, draws)
        for a, b in zip(k1, k2):
            lo, hi = wilson_interval(int(a), n)
            misses += not lo <= b / n <= hi
    assert abs(misses / (3 * draws) - rep.outside_chance()) < 0.03
    assert rep.outside_chance() == pytest.approx(0.166, abs=0.001)


def test_two_proportion_p_matches_the_textbook_case_and_its_edges():
    # 50/100 against 60/100: pooled 0.55, z = 0.1 / sqrt(0.55 * 0.45 * 0.02) = 1.421, two-sided p = 0.155
    assert rep.p_two(50, 100, 60, 100) == pytest.approx(math.erfc(1.4213 / math.sqrt(2)), abs=1e-3)
    assert rep.p_two(50, 100, 60, 100) == pytest.approx(0.155, abs=1e-3)
    assert rep.p_two(60, 100, 50, 100) == rep.p_two(50, 100, 60, 100)
    assert rep.p_two(0, 200, 0, 200) == rep.p_two(200, 200, 200, 200) == 1.0
    assert rep.p_two(100, 200, 100, 200) == 1.0


def test_a_retrain_with_the_committed_scores_is_inside_everywhere_and_a_moved_row_is_caught(tmp_path):
    committed = rep.committed_studies()
    base_row = committed["sd3"]["rows"][0]
    moved = min(1.0, base_row["scores"]["all"][0] + 0.2)  # 40 of 200 prompts more: far outside, p tiny
    record = rep.capture(_retrain(tmp_path, shift={"sd3": (0, moved)}))
    rows = rep.compare(record, committed)
    assert len(rows) == sum(len(s["rows"]) for s in committed.values())
    off = [r for r in rows if not r.inside]
    assert [r.label for r in off] == [rep.label(base_row)] and off[0].p < 1e-4
    assert all(r.p == 1.0 for r in rows if r.inside)
    counts = rep.summary(rows)
    assert counts["sd3"] == {"rows": len(committed["sd3"]["rows"]), "inside": len(committed["sd3"]["rows"]) - 1,
                             "differ": 1}
    assert counts["flux"]["differ"] == counts["unet"]["differ"] == 0
    text = rep.report(record, rows)
    assert "SD3-mini: %d of %d rates inside" % (counts["sd3"]["inside"], counts["sd3"]["rows"]) in text


def test_a_run_of_fewer_models_records_only_what_it_retrained(tmp_path):
    record = rep.capture(_retrain(tmp_path, studies=("flux",)))
    assert set(record["studies"]) == {"flux"}
    assert {r.study for r in rep.compare(record)} == {"flux"}


def test_bad_retrain_folders_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(RecordError, match="no such folder"):
        rep.capture(tmp_path / "missing")
    same = _retrain(tmp_path, studies=())
    with pytest.raises(RecordError, match="no retrained study"):
        rep.capture(same)
    quick = _retrain(tmp_path, studies=("sd3",), name="quick")
    training = json.loads((quick / "training.json").read_text())
    training["plan"].update(full_study=False, sd3_steps=3)
    (quick / "training.json").write_text(json.dumps(training))
    with pytest.raises(RecordError, match="not a reproduction.*sd3_steps: 3.*--quick"):
        rep.capture(quick)
    short = _retrain(tmp_path, studies=("sd3",), name="short")
    data = json.loads((short / "adherence.json").read_text())
    data["rows"] = data["rows"][1:]
    (short / "adherence.json").write_text(json.dumps(data))
    with pytest.raises(RecordError, match="lacks 1 of the committed conditions"):
        rep.capture(short)
    (short / "adherence.json").write_text('{"rows": [')
    with pytest.raises(RecordError, match="adherence.json: no readable adherence study"):
        rep.capture(short)


def test_the_command_exits_2_with_one_line_on_a_bad_folder(tmp_path, capsys):
    assert rep.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no such folder" in err and "\n" not in err


def test_written_records_are_atomic_and_read_back_and_a_corrupt_one_is_named(tmp_path):
    root = tmp_path / "trained"
    record = rep.capture(_retrain(tmp_path, studies=("unet",)))
    path = rep.write(record, root)
    assert path.parent == root / rep.REPRODUCTIONS and not [p for p in path.parent.iterdir() if p != path]
    assert rep.stored(root) == [json.loads(path.read_text())]
    (path.parent / "broken.json").write_text(json.dumps({"kind": "something else"}))
    with pytest.raises(RecordError, match="broken.json: not a reproduction record"):
        rep.stored(root)


def test_a_reproduction_of_weights_since_retrained_is_refused(tmp_path):
    record = rep.capture(_retrain(tmp_path, studies=("sd3",)))
    committed = rep.committed_studies()
    committed["sd3"] = {**committed["sd3"], "weights": "fedcba987654"}
    with pytest.raises(RecordError, match="committed weights are now fedcba987654"):
        rep.compare(record, committed)


def test_a_retrain_in_place_is_compared_with_the_commit_it_was_made_from(tmp_path):
    repo = tmp_path / "trained-miniatures"
    repo.mkdir()
    for name in FILES:
        shutil.copy(TRAINED_DIR / name, repo / name)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "committed"], check=True)
    retrained = _retrain(tmp_path, studies=("unet",))
    shutil.copy(retrained / "adherence-unet.json", repo / "adherence-unet.json")  # the run overwrote it
    record = rep.capture(repo, committed_root=repo)
    assert set(record["studies"]) == {"unet"} and len(record["commit"]) == 40
    rows = rep.compare(record, rep.committed_studies(repo, retrained_in_place=True))
    assert rows and all(r.inside for r in rows)


def test_the_stored_reproduction_is_of_the_committed_weights_and_chapter_6_reads_it():
    records = rep.stored()
    assert records, "chapter 6 shows the newest stored reproduction"
    record, rows = view.latest()
    assert record == records[-1]
    committed = rep.committed_studies()
    for study, data in record["studies"].items():
        assert data["committed"]["weights"] == committed[study]["weights"]
        assert data["weights"] != committed[study]["weights"]  # a retrain, not the committed study copied
    facts = view.facts(record, rows)
    counts = rep.summary(rows)
    assert facts["ch6-repro-rows"] == str(sum(s["rows"] for s in counts.values()))
    assert facts["ch6-repro-inside"] == str(sum(s["inside"] for s in counts.values()))
    table = view.summary_table(record, rows)
    assert list(table["conditions"]) == [counts[s]["rows"] for s in counts]
    assert len(view.rows_table(rows)) == len(rows)
