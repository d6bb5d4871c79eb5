"""Reproductions of the trained miniatures (lib.miniature.trained.reproduction): a retrain's adherence rows against
the committed ones, the stored record chapter 6 shows, and the bad inputs the command refuses."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lib.chapters import reproduction as view
from lib.errors import RecordError
from lib.miniature.trained import TRAINED_DIR
from lib.miniature.trained import reproduction as rep
from lib.shapes.validate import outside_chance, two_proportion_p, wilson_interval

FILES = ("training.json", *rep.STUDIES.values())


def _retrain(tmp_path: Path, studies=("sd3", "flux", "unet"), shift: dict | None = None, name: str = "retrain",
             commit: str | None = None) -> Path:
    """A retrain's --out folder: the committed records, with `studies` marked as made anew (new `made` and digest),
    the rows named in `shift` (study -> (row index, new rate)) moved, and the autoencoders kept."""
    out = tmp_path / name
    out.mkdir(parents=True)
    for f in FILES:
        shutil.copy(TRAINED_DIR / f, out / f)
    training = json.loads((out / "training.json").read_text())
    training["made"] = "2030-01-02T03:04:05Z"
    for stage in ("vae", "flux_vae"):
        training[stage]["kept"] = True
    if commit:
        training["commit"] = commit
    (out / "training.json").write_text(json.dumps(training))
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


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_outside_chance_is_what_two_independent_runs_with_one_true_rate_show():
    """The 'one time in six' the chapter prints: simulate pairs of 200-prompt runs of one true rate and count how
    often the second lands outside the first's Wilson interval (normal approximation against exact binomials: the
    tolerance covers the discreteness of 200 prompts and the spread of 60 000 draws)."""
    rng = np.random.default_rng(0)
    n, misses, draws = 200, 0, 20_000
    for p in (0.3, 0.5, 0.7):
        k1, k2 = rng.binomial(n, p, draws), rng.binomial(n, p, draws)
        for a, b in zip(k1, k2):
            lo, hi = wilson_interval(int(a), n)
            misses += not lo <= b / n <= hi
    assert abs(misses / (3 * draws) - outside_chance()) < 0.03
    assert outside_chance() == pytest.approx(0.166, abs=0.001)


def test_two_proportion_p_matches_the_textbook_case_and_its_edges():
    # 50/100 against 60/100: pooled 0.55, z = 0.1 / sqrt(0.55 * 0.45 * 0.02) = 1.421, two-sided p = 0.155
    assert two_proportion_p(50, 100, 60, 100) == pytest.approx(math.erfc(1.4213 / math.sqrt(2)), abs=1e-3)
    assert two_proportion_p(50, 100, 60, 100) == pytest.approx(0.155, abs=1e-3)
    assert two_proportion_p(60, 100, 50, 100) == two_proportion_p(50, 100, 60, 100)
    assert two_proportion_p(0, 200, 0, 200) == two_proportion_p(200, 200, 200, 200) == 1.0
    assert two_proportion_p(100, 200, 100, 200) == 1.0


def test_a_retrain_with_the_committed_scores_is_inside_everywhere_and_a_moved_row_is_caught(tmp_path):
    committed = rep.committed_studies()
    base_row = committed["sd3"]["rows"][0]
    moved = min(1.0, base_row["all"][0] + 0.2)  # 40 of 200 prompts more: far outside, p tiny
    record = rep.capture(_retrain(tmp_path, shift={"sd3": (0, moved)}, commit="f" * 40))
    assert record["commit"] == "f" * 40 and record["left_out"] == []
    rows = rep.compare(record)
    assert len(rows) == sum(len(s["rows"]) for s in committed.values())
    off = [r for r in rows if not r.inside]
    assert [r.label for r in off] == [rep.label(base_row)] and off[0].p < 1e-4
    assert all(r.p == 1.0 for r in rows if r.inside)
    counts = rep.summary(rows)
    assert list(counts) == ["sd3", "flux", "unet"]
    assert counts["sd3"] == {"rows": len(committed["sd3"]["rows"]), "inside": len(committed["sd3"]["rows"]) - 1,
                             "differ": 1}
    text = rep.report(record, rows)
    assert "SD3-mini: %d of %d rates inside" % (counts["sd3"]["inside"], counts["sd3"]["rows"]) in text
    assert "below the Bonferroni bound %.4f: 1" % (0.05 / len(rows)) in text


def test_rows_stored_before_a_field_existed_pair_with_its_default(tmp_path):
    folder = _retrain(tmp_path, studies=("sd3",))
    _edit(folder / "adherence.json", lambda d: [r.pop("quantization") for r in d["rows"]])
    rows = rep.compare(rep.capture(folder))
    assert len(rows) == len(rep.committed_studies()["sd3"]["rows"]) and all(r.inside for r in rows)


def test_a_run_of_fewer_models_records_only_what_it_retrained_and_chapter_6_says_so(tmp_path):
    record = rep.capture(_retrain(tmp_path, studies=("flux",)))
    assert set(record["studies"]) == {"flux"} and record["left_out"] == ["adherence.json", "adherence-unet.json"]
    rows = rep.compare(record)
    assert {r.study for r in rows} == {"flux"}
    facts = view.facts(record, rows)
    assert facts["ch6-repro-sd3"] == facts["ch6-repro-unet"] == "not retrained in this reproduction"
    assert facts["ch6-repro-flux"].startswith(f"{len(rows)} of {len(rows)} inside")


def test_the_commit_is_training_jsons_else_the_checkouts_else_unknown(tmp_path):
    assert rep.capture(_retrain(tmp_path, studies=("unet",)))["commit"] is None  # an --out folder elsewhere
    checkout = tmp_path / "clone"
    (checkout / "lib" / "miniature" / "trained").mkdir(parents=True)
    (checkout / "lib" / "miniature" / "trained" / "train.py").write_text("")
    folder = _retrain(checkout / "precomputed", studies=("unet",), name=TRAINED_DIR.name)
    git = ["git", "-C", str(checkout), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "lib"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert rep.capture(checkout)["commit"] == head  # a clone's root works as FOLDER
    _edit(folder / "training.json", lambda d: d.update(commit="a" * 40))
    assert rep.capture(folder)["commit"] == "a" * 40


def test_bad_retrain_folders_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(RecordError, match="no such folder"):
        rep.capture(tmp_path / "missing")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RecordError, match="a file; give the --out folder"):
        rep.capture(tmp_path / "afile")
    with pytest.raises(RecordError, match="no retrained study"):
        rep.capture(_retrain(tmp_path, studies=(), name="same"))
    quick = _retrain(tmp_path, studies=("sd3",), name="quick")
    _edit(quick / "training.json", lambda d: d["plan"].update(full_study=False, sd3_steps=3))
    with pytest.raises(RecordError, match="not a reproduction.*sd3_steps: 3.*--quick"):
        rep.capture(quick)
    _edit(quick / "training.json", lambda d: d.update(plan=[1]))
    with pytest.raises(RecordError, match="training.json: no plan"):
        rep.capture(quick)
    made = _retrain(tmp_path, studies=("sd3",), name="made")
    _edit(made / "training.json", lambda d: d.update(made="../../x"))
    with pytest.raises(RecordError, match="'made' is '../../x', not a UTC time"):
        rep.capture(made)
    new_ae = _retrain(tmp_path, studies=("flux",), name="new-ae")
    _edit(new_ae / "training.json", lambda d: d["flux_vae"].update(kept=False, final_loss=0.5))
    with pytest.raises(RecordError, match="new autoencoder.*--train-autoencoders"):
        rep.capture(new_ae)


@pytest.mark.parametrize("change, message", [
    (lambda rows: rows.pop(1), "lacks a committed condition"),
    (lambda rows: rows.append(dict(rows[0])), "row %d: a second row of the same condition"),
    (lambda rows: rows[0].update(n=3), "was scored on 3 prompts, the committed on 200"),
    (lambda rows: rows[0].update(n=True), "row 0: n is True"),
    (lambda rows: rows[0].update(steps=[28]), "row 0: steps of the wrong type"),
    (lambda rows: rows[0].update(scores=None), "row 0: its 'all' score is None"),
    (lambda rows: rows[0]["scores"].update(all=[1.9, 0.1, 0.2]), r"row 0: its 'all' score is \[1.9"),
    (lambda rows: rows[0]["scores"].update(all=[float("nan"), 0.1, 0.2]), "row 0: its 'all' score is"),
    (lambda rows: rows[0]["scores"].update(all=["0.5", "0.4", "0.6"]), "row 0: its 'all' score is"),
])
def test_malformed_rows_are_refused_naming_the_row(tmp_path, change, message):
    folder = _retrain(tmp_path, studies=("sd3",))
    holder = {}
    _edit(folder / "adherence.json", lambda d: (change(d["rows"]), holder.update(n=len(d["rows"]) - 1)))
    with pytest.raises(RecordError, match=message.replace("%d", str(holder["n"])) if "%d" in message else message):
        rep.capture(folder)


def test_unreadable_studies_say_what_is_wrong(tmp_path):
    folder = _retrain(tmp_path, studies=("sd3",))
    (folder / "adherence.json").write_text('{"rows": [')
    with pytest.raises(RecordError, match="adherence study is not JSON"):
        rep.capture(folder)
    (folder / "adherence.json").write_text("[1, 2]")
    with pytest.raises(RecordError, match="adherence study is not a JSON object"):
        rep.capture(folder)
    (folder / "adherence.json").unlink()
    (folder / "adherence.json").mkdir()
    with pytest.raises(RecordError, match="a folder, not the file of the adherence study"):
        rep.capture(folder)


def test_the_command_exits_2_with_one_line_on_bad_input(tmp_path, capsys):
    assert rep.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no such folder" in err and "\n" not in err
    with pytest.raises(SystemExit) as exit_:
        rep.main(["--write"])
    assert exit_.value.code == 2 and "need the retrain's FOLDER" in capsys.readouterr().err


def test_records_are_written_atomically_one_per_retrain_never_overwritten_silently(tmp_path, capsys):
    root = tmp_path / "trained"
    record = rep.capture(_retrain(tmp_path, studies=("unet",)), remark="first")
    path = rep.write(record, root)
    assert path.name == "20300102T030405Z-" + path.name.split("Z-", 1)[1]
    assert not [p for p in path.parent.iterdir() if p != path]  # no temp file left
    assert [r["remark"] for r in rep.stored(root)] == ["first"]
    with pytest.raises(RecordError, match="exists; add --replace"):
        rep.write({**record, "remark": "second"}, root)
    rep.write({**record, "remark": "second"}, root, replace=True)
    later = {**record, "made": "2031-01-01T00:00:00Z", "remark": "later"}
    rep.write(later, root)
    assert [r["remark"] for r in rep.stored(root)] == ["second", "later"]  # oldest retrain first


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(kind="other"), "not a reproduction record"),
    (lambda d: d.update(stages=[1]), "'stages' is not an object"),
    (lambda d: d["stages"].update(sd3="x"), "'stages' is not an object"),
    (lambda d: d.update(machine=[1]), "'machine' is not an object"),
    (lambda d: d["studies"]["unet"].update(committed="x"), "with its committed rows"),
    (lambda d: d["studies"]["unet"]["rows"].pop(), "do not pair one to one"),
    (lambda d: d["studies"]["unet"]["rows"][0].update(all=["a", 1, 2]), "row 0: its 'all' score"),
])
def test_a_corrupt_stored_record_is_named_with_how_to_make_it_anew(tmp_path, change, message):
    root = tmp_path / "trained"
    path = rep.write(rep.capture(_retrain(tmp_path, studies=("unet",))), root)
    _edit(path, change)
    with pytest.raises(RecordError, match=f"{path.name}.*{message}.*--write --replace"):
        rep.stored(root)


def test_a_record_keeps_both_runs_rows_so_retrained_weights_leave_it_readable(tmp_path):
    record = rep.capture(_retrain(tmp_path, studies=("sd3",)))
    committed = rep.committed_studies()
    assert rep.current(record, committed) == {"sd3": True}
    committed["sd3"] = {**committed["sd3"], "weights": "fedcba987654"}
    assert rep.current(record, committed) == {"sd3": False}
    assert rep.compare(record)  # still compares the weights it reproduced


def test_a_retrain_in_place_is_compared_with_the_commit_it_was_made_from(tmp_path, capsys):
    repo = tmp_path / "trained-miniatures"
    repo.mkdir()
    for f in FILES:
        shutil.copy(TRAINED_DIR / f, repo / f)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "committed"], check=True)
    base = rep.committed_studies(repo)["unet"]["rows"][0]
    retrained = _retrain(tmp_path, studies=("unet",), shift={"unet": (0, base["all"][0] - 0.25)})
    for f in FILES:  # the run overwrote the committed files
        shutil.copy(retrained / f, repo / f)
    record = rep.capture(repo, committed_root=repo)
    assert set(record["studies"]) == {"unet"}
    rows = rep.compare(record)
    assert [r.inside for r in rows].count(False) == 1 and rows[0].committed == tuple(base["all"])
    subprocess.run([*git, "rm", "-q", "--cached", "training.json"], check=True)
    subprocess.run([*git, "commit", "-qm", "no log"], check=True)
    with pytest.raises(RecordError, match="git cannot give it back.*--out FOLDER"):
        rep.capture(repo, committed_root=repo)


def test_the_stored_reproduction_is_of_the_committed_weights_and_chapter_6_reads_it():
    records = rep.stored()
    assert records, "chapter 6 shows the newest stored reproduction"
    record, rows = view.latest()
    assert record == records[-1]
    assert all(rep.current(record).values()), "the committed weights changed: store a reproduction of the new ones"
    committed = rep.committed_studies()
    for study, data in record["studies"].items():
        assert data["committed"]["rows"] == committed[study]["rows"]
        assert data["weights"] != committed[study]["weights"]  # a retrain, not the committed study copied
    facts = view.facts(record, rows)
    counts = rep.summary(rows)
    assert facts["ch6-repro-rows"] == str(sum(s["rows"] for s in counts.values()))
    assert facts["ch6-repro-inside"] == str(sum(s["inside"] for s in counts.values()))
    assert facts["ch6-repro-current"] == "the weights committed in this tree"
    table = view.summary_table(record, rows)
    assert list(table["conditions"]) == [counts[s]["rows"] for s in counts]
    assert len(view.rows_table(rows)) == len(rows)


# ------------------------------------------------------------------------------------------ shorter trainings

def _shorter(tmp_path: Path, fraction: float = 0.25, name: str = "shorter", rate: float = 0.1) -> Path:
    """The --out folder of `train-miniatures --models sd3 --fraction F`: SD3-mini's study made anew, with its row of
    single objects at the preset moved to `rate`, and the plan of train.Plan.shorter."""
    from lib.miniature.trained.study import Condition, conditions
    from lib.miniature.trained.train import Plan

    preset = conditions().index(Condition("single"))  # single objects at SD3-mini's preset
    folder = _retrain(tmp_path, studies=("sd3",), name=name, shift={"sd3": (preset, rate)})
    plan = Plan.shorter(fraction)

    def shorten(d):
        d["plan"].update({k: getattr(plan, k) for k in rep.STEP_FIELDS})
        for stages in rep.STUDY_STAGES.values():
            for stage, field in stages:
                d[stage]["steps"] = getattr(plan, field)
    _edit(folder / "training.json", shorten)
    return folder


def test_the_shorter_plan_scales_every_denoisers_steps_and_nothing_else():
    from lib.miniature.trained.train import Plan

    book, short = Plan(), Plan.shorter(0.25, ("sd3",))
    assert (short.sd3_steps, short.teacher_steps, short.student_steps) == (
        round(book.sd3_steps / 4), round(book.teacher_steps / 4), round(book.student_steps / 4))
    assert short.models == ("sd3",) and not short.train_autoencoders
    assert {k: v for k, v in short.__dict__.items() if k not in rep.STEP_FIELDS and k != "models"} == {
        k: v for k, v in book.__dict__.items() if k not in rep.STEP_FIELDS and k != "models"}
    assert Plan.shorter(1e-9).sd3_steps == 1  # never zero steps


def test_a_shorter_training_is_compared_and_stored_apart_from_the_reproductions(tmp_path):
    root = tmp_path / "trained"
    record = rep.capture(_shorter(tmp_path), remark="quarter")
    assert record["kind"] == rep.SHORTER_KIND
    assert (record["plan"]["sd3_steps"], record["committed_plan"]["sd3_steps"]) == (450, 1800)
    rows = rep.compare(record)
    assert sum(not r.inside for r in rows) == 1
    assert "a shorter training, not a reproduction: SD3-mini 450 of 1800 steps;" in rep.report(record, rows)
    path = rep.write(record, root)
    assert path.parent.name == rep.SHORTER and not (root / rep.REPRODUCTIONS).exists()
    assert rep.stored(root) == [] and [r["remark"] for r in rep.stored(root, rep.SHORTER_KIND)] == ["quarter"]
    # chapter 6: one column per run, the committed weights first, fewest steps last
    half = _shorter(tmp_path, 0.5, name="half")
    _edit(half / "training.json", lambda d: d.update(made="2030-01-03T00:00:00Z"))
    rep.write(rep.capture(half, remark="half"), root)
    runs = view.shorter_runs(root)
    assert [r["plan"]["sd3_steps"] for r in runs] == [900, 450]
    table = view.shorter_table(runs)
    assert list(table.columns)[0] == "book's plan, committed weights"
    assert [c.split(",")[0] for c in table.columns[-2:]] == ["50\u00a0% of the steps", "25\u00a0% of the steps"]
    assert table.columns[-1] == "25\u00a0% of the steps, 2030-01-02 03:04"
    assert table.iloc[0].tolist()[-2:] == ["900", "450"]
    remarks = view.shorter_remarks(runs)
    assert remarks.index("half") < remarks.index("quarter") and remarks.count("\n- **") == 1
    assert table.index.name == "SD3-mini (28 steps, CFG 5, with T5)"
    single = table.loc["single objects"]
    assert single.iloc[-1].startswith("10.0\u00a0%") and not single.iloc[0].startswith("10.0")
    assert table.loc["SD3-mini training steps"].iloc[0] == "1800"


def test_a_run_with_more_steps_or_other_settings_is_neither_reproduction_nor_shorter(tmp_path):
    longer = _shorter(tmp_path, name="longer")
    _edit(longer / "training.json", lambda d: d["plan"].update(sd3_steps=2000))
    with pytest.raises(RecordError, match="not a reproduction.*sd3_steps: 2000.*--fraction alone"):
        rep.capture(longer)
    other = _shorter(tmp_path, name="other")
    _edit(other / "training.json", lambda d: d["plan"].update(n_images=100))
    with pytest.raises(RecordError, match="not a reproduction.*n_images: 100"):
        rep.capture(other)


def test_a_stored_shorter_training_without_its_steps_is_refused(tmp_path):
    root = tmp_path / "trained"
    path = rep.write(rep.capture(_shorter(tmp_path)), root)
    _edit(path, lambda d: d["committed_plan"].pop("sd3_steps"))
    with pytest.raises(RecordError, match="steps of the shorter and of the committed training are not both"):
        rep.stored(root, rep.SHORTER_KIND)


@pytest.mark.parametrize("args, message", [
    (["--fraction", "0"], "above 0 and at most 1"),
    (["--fraction", "1.5"], "above 0 and at most 1"),
    (["--fraction", "nan"], "above 0 and at most 1"),
    (["--fraction", "0.5"], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.5", "--out", "{tmp}/o"], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.5", "--out", str(TRAINED_DIR), "--work", "{tmp}/w"], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.5", "--out", "{tmp}/o", "--work", "{tmp}/o/w"], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.5", "--out", str(TRAINED_DIR / "sd3"), "--work", "{tmp}/w"], "give --out FOLDER and --work"),
    (["--fraction", "0.5", "--out", "{tmp}/o", "--work", str(TRAINED_DIR)], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.5", "--out", "{tmp}/o", "--work", "{default_work}"], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.5", "--out", "{default_work}/x", "--work", "{tmp}/w"], "give --out FOLDER and --work FOLDER"),
    (["--fraction", "0.9999", "--out", "{tmp}/o", "--work", "{tmp}/w"], "leaves a denoiser with the book's steps"),
    (["--fraction", "0.5", "--quick"], "drop --quick"),
    (["--fraction", "0.5", "--train-autoencoders", "--out", "{tmp}/o", "--work", "{tmp}/w"],
     "drop --train-autoencoders"),
])
def test_train_miniatures_refuses_a_fraction_that_would_touch_the_books_weights(tmp_path, capsys, args, message):
    from lib.miniature.trained.train import default_work_dir, main

    with pytest.raises(SystemExit) as exit_:
        main([a.replace("{tmp}", str(tmp_path)).replace("{default_work}", str(default_work_dir())) for a in args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (tmp_path / "w").exists()


def test_chapter_6_counts_a_shorter_runs_minutes_as_the_budget_does(tmp_path):
    from lib.miniature.trained.train import BUDGET_MINUTES, STAGES, STUDIES, budget_line

    root = tmp_path / "trained"
    alone = rep.capture(_shorter(tmp_path, name="alone"))
    every = _shorter(tmp_path, name="every")
    for study in ("flux", "unet"):
        _edit(every / rep.STUDIES[study], lambda d: d.update(made="2030-01-01T00:00:00Z", weights="0123456789ab"))
    record = rep.capture(every)
    assert set(record["studies"]) == {"sd3", "flux", "unet"}
    training = json.loads((every / "training.json").read_text())
    log = {**{s: training[s] for s in STAGES}, **{name: json.loads((every / f"{name.replace('_', '-')}.json")
                                                                   .read_text()) for name in STUDIES}}
    minutes = view.run_minutes(record)
    # the same total as train-miniatures' own budget line prints for that run
    assert f"stages and studies: {minutes['total'] - minutes['kept']:.1f} min" in budget_line(log)
    assert f"and {minutes['kept']:.1f} min of training for the autoencoders kept" in budget_line(log)
    rep.write(alone, root)
    facts = view.shorter_facts(view.shorter_runs(root))
    assert facts["ch6-short-steps"] == "450" and facts["ch6-short-share"] == "25\u00a0%"
    assert facts["ch6-short-single"].startswith("10.0\u00a0%") and facts["ch6-short-p-single"] == (
        "p\u00a0<\u00a00.001")
    assert facts["ch6-short-p-relation"] == "p\u00a0=\u00a01.000"  # the relation row was not moved
    assert "trained SD3-mini only" in facts["ch6-short-all"]
    assert "does not lose adherence on both" in facts["ch6-short-verdict"]
    assert facts["ch6-short-current"] == "the weights committed in this tree"
    rep.write(record, root, replace=True)
    facts = view.shorter_facts(view.shorter_runs(root))
    verdict = "within" if minutes["total"] <= BUDGET_MINUTES else "over"
    assert f"in {minutes['total']:.1f} minutes" in facts["ch6-short-all"] and f"{verdict} the 45-minute" in facts[
        "ch6-short-all"]
    # the committed run's minutes, as train-miniatures' own budget line counts them
    committed = json.loads((TRAINED_DIR / "training.json").read_text())
    committed.update({name: json.loads((TRAINED_DIR / f"{name.replace('_', '-')}.json").read_text())
                      for name in STUDIES})
    line = budget_line(committed)
    kept = re.search(r"and ([\d.]+) min of training", line)
    total = float(re.search(r"stages and studies: ([\d.]+) min", line)[1]) + (float(kept[1]) if kept else 0.0)
    assert abs(view.book_minutes() - total) <= 0.1  # the line rounds each part to 0.1 min
    assert facts["ch6-short-book-minutes"] == f"{view.book_minutes():.0f}"
    with pytest.raises(RecordError, match="no stored shorter training.*--fraction 0.25"):
        view.shorter_facts([])


def test_the_closing_sentence_follows_the_measurement(tmp_path):
    """Both preset rates far lower: the sentence says the adherence is bought with steps; chapter 6 never states it
    when the shorter run does not show it (the case of the other test)."""
    from lib.miniature.trained.study import Condition, conditions

    root = tmp_path / "trained"
    folder = _shorter(tmp_path, rate=0.1)
    relation = conditions().index(Condition("relation"))

    def lower(d):
        row = d["rows"][relation]
        row["scores"]["all"] = [0.05, *wilson_interval(10, row["n"])]
    _edit(folder / rep.STUDIES["sd3"], lower)
    rep.write(rep.capture(folder), root)
    facts = view.shorter_facts(view.shorter_runs(root))
    assert facts["ch6-short-verdict"].startswith("In this toy world, then, the book's adherence is bought with "
                                                 "training steps: cut to 25\u00a0% of them")


def test_a_run_into_a_folder_of_other_steps_is_refused_before_training(tmp_path):
    from lib.errors import ConfigError
    from lib.miniature.trained.train import Plan, train_miniatures

    out = _shorter(tmp_path)  # its plan: a quarter of the steps, every model
    with pytest.raises(ConfigError, match="keeps flux, unet trained with other steps.*teacher_steps 375 .this run "
                                          "1500.*another --out"):
        train_miniatures(out, tmp_path / "work", Plan(models=("sd3",)))
    assert not (tmp_path / "work").exists()


def test_a_record_of_stages_with_other_steps_than_its_plan_is_refused(tmp_path):
    folder = _shorter(tmp_path)
    _edit(folder / "training.json", lambda d: d["sd3"].update(steps=1800))  # a full run's SD3-mini kept beside
    with pytest.raises(RecordError, match="sd3 trained 1800 steps, its plan says sd3_steps 450.*folder of its own"):
        rep.capture(folder)


def test_the_stored_shorter_trainings_are_of_the_committed_plan_and_chapter_6_reads_them():
    runs = view.shorter_runs()
    assert runs, "chapter 6 shows the stored shorter trainings"
    committed = rep.committed_studies()
    for run in runs:
        assert run["kind"] == rep.SHORTER_KIND and run["plan"]["sd3_steps"] < run["committed_plan"]["sd3_steps"]
        assert all(run["stages"][s].get("kept") for s in ("vae", "flux_vae") if s in run["stages"])
        assert rep.current(run, committed)["sd3"], "the committed weights changed: compare the shorter runs anew"
        minutes = view.run_minutes(run)
        assert minutes["total"] > minutes["studies"] > 0
    facts = view.shorter_facts(runs)
    assert facts["ch6-short-steps"] == str(runs[-1]["plan"]["sd3_steps"])
    assert facts["ch6-short-unet"].startswith("UNet-mini, trained in the same run") == ("unet" in runs[-1]["studies"])
    table = view.shorter_table(runs)
    assert table.shape[1] == 1 + bool([r for r in rep.stored() if "sd3" in r["studies"]]) + len(runs)
    assert "not recorded" not in table.iloc[:3].to_numpy().ravel().tolist()  # every run's steps, time and loss


def test_a_remark_is_shown_as_written_not_as_markdown():
    """MyST turns '--' into an en dash and '*x*' into emphasis; a record's remark (a command line, a file name) must
    reach the page as written."""
    from markdown_it import MarkdownIt

    remark = 'train-miniatures --fraction 0.25 *as* a_b [x](y) `z` <b> "q"'
    md = MarkdownIt("commonmark", {"typographer": True}).enable(["replacements", "smartquotes"])
    html = md.render(view.literal_md(remark))
    assert html == "<p>" + remark.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") + "</p>\n"
    assert view.literal_md("bell\x07") == "bell\\\\x07"  # control characters are shown, escaped, not sent


@pytest.mark.parametrize("content", ["{not json", "[]", '{"plan": [1]}', '{"plan": {"models": null}}',
                                     '{"plan": {"models": [["sd3"]]}}'])
def test_a_malformed_training_log_in_out_is_refused_before_training(tmp_path, content):
    from lib.errors import ConfigError
    from lib.miniature.trained.train import Plan, train_miniatures

    out = tmp_path / "out"
    out.mkdir()
    (out / "training.json").write_text(content)
    with pytest.raises(ConfigError, match="not the training log of a train-miniatures run.*remove that file"):
        train_miniatures(out, tmp_path / "work", Plan.shorter(0.5, ("sd3",)))
    assert not (tmp_path / "work").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda t, a: t["sd3"].update(seconds=float("nan")), "seconds nan, not a time"),
    (lambda t, a: t["sd3"].update(seconds="x"), "seconds 'x', not a time"),
    (lambda t, a: a.update(seconds=-5), "seconds -5, not a time"),
    (lambda t, a: t["machine"].update(memory_bytes="x"), "does not name a chip and memory"),
    (lambda t, a: t.update(made="2030-13-45T99:99:99Z"), "not a UTC time"),
    (lambda t, a: t["sd3"].pop("steps"), "sd3 records no steps"),
    (lambda t, a: t["sd3"].update(steps=450.0), "sd3 records no steps"),
    (lambda t, a: t["vae"].update(kept="no", final_loss=0.9), "new autoencoder"),
])
def test_write_refuses_what_the_chapter_could_not_read_back(tmp_path, capsys, edit, message):
    folder = _shorter(tmp_path)
    training = json.loads((folder / "training.json").read_text())
    study = json.loads((folder / "adherence.json").read_text())
    edit(training, study)
    (folder / "training.json").write_text(json.dumps(training))
    (folder / "adherence.json").write_text(json.dumps(study))
    root = tmp_path / "trained"
    with pytest.raises(RecordError, match=message):
        rep.write(rep.capture(folder), root)
    assert not root.exists()
    assert rep.main([str(folder), "--write"]) == 2 and "error: " in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    (lambda d: d["plan"].update(sd3_steps=3600), "not the committed one with fewer steps"),
    (lambda d: d["plan"].update(sd3_steps=1800, teacher_steps=1500, student_steps=800),
     "not the committed one with fewer steps"),
    (lambda d: d["plan"].update(n_images=5), "not the committed one with fewer steps"),
    (lambda d: d.update(remark=5), "remark, commit or list of studies left out"),
    (lambda d: d.update(commit=5), "remark, commit or list of studies left out"),
    (lambda d: d.update(left_out=5), "remark, commit or list of studies left out"),
    (lambda d: d["machine"].update(chip=["x"]), "does not name a chip and memory"),
    (lambda d: d["stages"]["sd3"].update(final_loss="x"), "final loss 'x', not a number"),
])
def test_a_corrupt_stored_shorter_training_is_a_record_error_for_the_chapter(tmp_path, change, message):
    root = tmp_path / "trained"
    path = rep.write(rep.capture(_shorter(tmp_path)), root)
    _edit(path, change)
    with pytest.raises(RecordError, match=f"{path.name}.*{message}"):
        view.shorter_runs(root)
