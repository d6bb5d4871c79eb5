"""Chapter view of the stored reproductions of the trained miniatures (lib.miniature.trained.reproduction): did a
retrain score what the committed weights score?

Reads precomputed/trained-miniatures/reproductions/ (written by `python -m lib.miniature.trained.reproduction
FOLDER --write`; each record holds both runs' rows) and the committed studies' digests, to say whether the weights
in the tree are still those the record reproduced; nothing is trained or generated here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.errors import RecordError
from lib.miniature.trained import TRAINED_DIR
from lib.miniature.trained.reproduction import (ALPHA, MODEL_NAMES, REPRODUCTIONS, STUDIES, Row, committed_studies,
                                                compare, current, outside_chance, pct, record_path, stored, summary)

# the stages whose final loss a reproduction can be held against (the autoencoders are kept by default)
LOSS_STAGES = {"sd3": ("sd3",), "flux": ("flux_teacher", "flux_student"), "unet": ("unet",)}
STAGE_NAMES = {"sd3": "SD3-mini", "flux_teacher": "FLUX-mini teacher", "flux_student": "FLUX-mini student",
               "unet": "UNet-mini"}


def latest(root: Path = TRAINED_DIR) -> tuple[dict, list[Row]]:
    """The newest stored reproduction and its rows; RecordError if there is none."""
    records = stored(root)
    if not records:
        raise RecordError(f"{root / REPRODUCTIONS}: no stored reproduction; retrain (README, 'Trained miniatures') "
                          "and run `python -m lib.miniature.trained.reproduction FOLDER --write`")
    return records[-1], compare(records[-1])


def summary_table(record: dict, rows: list[Row], root: Path = TRAINED_DIR) -> Any:
    """Per model: conditions, how many retrained rates lie inside the committed intervals, how many differ at
    p < 0.05, and the final training losses of both runs."""
    import pandas as pd

    from lib.chapters.adherence import training_log

    committed = training_log(root)
    out = []
    for study, s in summary(rows).items():
        losses = []
        for stage in LOSS_STAGES[study]:
            a, b = (committed.get(stage) or {}).get("final_loss"), record["stages"].get(stage, {}).get("final_loss")
            if a is not None and b is not None:
                losses.append(f"{STAGE_NAMES[stage]}: {a:.4f} → {b:.4f}")
        out.append({"model": MODEL_NAMES[study], "conditions": s["rows"], "inside the committed interval": s["inside"],
                    f"p < {ALPHA:g}": s["differ"],
                    "final loss, committed → retrained": "; ".join(losses) or "not recorded"})
    return pd.DataFrame(out).set_index("model")


def rows_table(rows: list[Row]) -> Any:
    """Every condition: the committed rate with its interval, the retrain's, inside or not, and p."""
    import pandas as pd

    return pd.DataFrame([{"condition": r.label,
                          "committed (95 % interval)": f"{pct(r.committed[0])} ({pct(r.committed[1])}–"
                                                       f"{pct(r.committed[2])})",
                          "retrained": pct(r.reproduced[0]), "inside": "yes" if r.inside else "no",
                          "p": f"{r.p:.3f}"} for r in rows]).set_index("condition")


def facts(record: dict, rows: list[Row], root: Path = TRAINED_DIR) -> dict[str, str]:
    """Glue values for chapter 6 (prefix ch6-repro-); the record's own words about the run are ch6-repro-remark,
    which the chapter shows as Markdown (plain weight: it is a paragraph, not a number)."""
    machine = record.get("machine") or {}
    precision = sorted({str(s["precision"]) for s in record["stages"].values() if s.get("precision")})
    counts = summary(rows)
    differ = [r for r in rows if r.p < ALPHA]
    bound = ALPHA / len(rows)
    still = current(record, committed_studies(root))
    cores = f"{machine['cpu_count']} cores" if isinstance(machine.get("cpu_count"), int) else "cores unrecorded"
    out = {"ch6-repro-made": record["made"][:10],
           "ch6-repro-chip": f"{machine.get('chip', 'an unrecorded chip')} ({cores})",
           "ch6-repro-precision": ", ".join(precision) or "unrecorded precision",
           "ch6-repro-commit": (record.get("commit") or "unknown")[:7],
           "ch6-repro-file": record_path(record, root).name,
           "ch6-repro-outside": f"{100 * outside_chance():.0f}\u00a0%",
           "ch6-repro-rows": str(len(rows)),
           "ch6-repro-inside": str(sum(r.inside for r in rows)),
           "ch6-repro-n": "/".join(sorted({str(r.n) for r in rows}, key=int)),
           "ch6-repro-chance": f"{ALPHA * len(rows):.1f}",
           "ch6-repro-bound": f"{bound:.4f}",
           "ch6-repro-nbound": "none" if not any(r.p < bound for r in rows) else str(sum(r.p < bound for r in rows)),
           "ch6-repro-differ": "; ".join(f"{r.label}: {pct(r.committed[0])} committed, {pct(r.reproduced[0])} "
                                         f"retrained (p\u00a0=\u00a0{r.p:.3f})" for r in differ) or "none",
           "ch6-repro-current": ("the weights committed in this tree" if all(still.values()) else
                                 "weights that have since been replaced in this tree (its rows are kept in the "
                                 "record, so the comparison below still stands for them)"),
           "ch6-repro-remark": literal_md(str(record.get("remark") or "")) or "none (the record has no remark)"}
    for study in STUDIES:
        s = counts.get(study)
        out[f"ch6-repro-{study}"] = ("not retrained in this reproduction" if s is None else
                                     f"{s['inside']} of {s['rows']} inside, "
                                     f"{'none' if not s['differ'] else s['differ']} at p\u00a0<\u00a0{ALPHA:g}")
    return out


# ------------------------------------------------------------------------------------------ shorter trainings

# SD3-mini's conditions at its preset (lib.miniature.trained.study's defaults) that the shorter-training table shows
SHORT_CONDITIONS = (("single", "train", "single objects"), ("relation", "train", "two objects and a relation"),
                    ("composition", "train", "compositions"), ("single", "heldout", "single objects, held-out"),
                    ("relation", "heldout", "relations, held-out"))


def shorter_runs(root: Path = TRAINED_DIR) -> list[dict]:
    """The stored shorter trainings (`train-miniatures --fraction F`) that retrained SD3-mini, most steps first."""
    from lib.miniature.trained.reproduction import SHORTER_KIND

    runs = [r for r in stored(root, SHORTER_KIND) if "sd3" in r["studies"]]
    return sorted(runs, key=lambda r: -r["plan"]["sd3_steps"])


def preset() -> str:
    """'28 steps, CFG 5, with T5': the setting every rate of the shorter-training table is measured at."""
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS

    return f"{DEFAULT_STEPS} steps, CFG {DEFAULT_GUIDANCE:g}, with T5"


def _preset_row(rows: list[dict], kind: str, split: str, where: str) -> dict:
    from lib.miniature.trained.study import find

    try:
        return find(rows, kind=kind, split=split)
    except KeyError:
        raise RecordError(f"{where}: no row of {kind} ({split}) at SD3-mini's preset ({preset()}); make the record "
                          "anew from a run of this library's train-miniatures") from None


def _rate(row: dict) -> str:
    rate, low, high = row["all"]
    return f"{pct(rate)} ({pct(low)}–{pct(high)})"


def _time(stage: dict) -> str:
    """'380 s on AMD EPYC in float32' (what the stage's entry records of it)."""
    if "seconds" not in stage:
        return "not recorded"
    return (f"{stage['seconds']:.0f}\u00a0s" + (f" on {stage['chip']}" if stage.get("chip") else "")
            + (f" in {stage['precision']}" if stage.get("precision") else ""))


def _share(run: dict) -> str:
    return f"{100 * run['plan']['sd3_steps'] / run['committed_plan']['sd3_steps']:.0f}\u00a0%"


def shorter_table(runs: list[dict], root: Path = TRAINED_DIR) -> Any:
    """SD3-mini trained for the book's steps (the committed weights, and the newest reproduction's retrain) against
    the shorter trainings: steps, training time, final loss, the share of images with every attribute right on each
    of SHORT_CONDITIONS with its 95 % interval. One column per run (the remarks: shorter_remarks)."""
    import pandas as pd

    from lib.chapters.adherence import training_log

    columns: dict[str, list] = {}

    def column(name: str, steps, stage: dict, rows: list[dict], where: str) -> None:
        loss = stage.get("final_loss")
        columns[name] = [str(steps), _time(stage),
                         f"{loss:.4f}" if isinstance(loss, (int, float)) and not isinstance(loss, bool) else
                         "not recorded"]
        columns[name] += [_rate(_preset_row(rows, kind, split, where)) for kind, split, _ in SHORT_CONDITIONS]

    log = training_log(root)
    column("book's plan, committed weights", (log.get("plan") or {}).get("sd3_steps", "not recorded"),
           log.get("sd3") if isinstance(log.get("sd3"), dict) else {}, committed_studies(root)["sd3"]["rows"],
           str(root / "adherence.json"))
    repro = [r for r in stored(root) if "sd3" in r["studies"]]
    if repro:
        r = repro[-1]
        column(f"book's plan, retrained {r['made'][:10]}", (r.get("plan") or {}).get("sd3_steps", "not recorded"),
               r["stages"].get("sd3") or {}, r["studies"]["sd3"]["rows"], record_path(r, root).name)
    for r in runs:
        column(_run_name(r), r["plan"]["sd3_steps"], r["stages"].get("sd3") or {},
               r["studies"]["sd3"]["rows"], record_path(r, root).name)
    index = ["SD3-mini training steps", "training time", "final loss (mean of the last 50 steps)"]
    index += [label for *_, label in SHORT_CONDITIONS]
    return pd.DataFrame(columns, index=pd.Index(index, name=f"SD3-mini ({preset()})"))


def literal_md(text: str) -> str:
    """`text` as Markdown that renders it literally: every ASCII punctuation character backslash-escaped
    (CommonMark allows it), so '--fraction' keeps its two hyphens (no en dash) and '*' or '_' starts no emphasis."""
    import string

    from lib.miniature.trained.reproduction import _printable

    return "".join("\\" + c if c in string.punctuation else c for c in _printable(text))


def shorter_remarks(runs: list[dict], root: Path = TRAINED_DIR) -> str:
    """Markdown: each shorter training's column name, file and what its record says about the run."""
    return "\n".join(f"- **{_run_name(r)}** (`{record_path(r, root).name}`): "
                     f"{literal_md(r.get('remark') or '') or 'no remark'}" for r in runs)


def _run_name(run: dict) -> str:
    """'25 % of the steps, 2026-12-06 21:51' (a column of the table: one per run, so the time is in it)."""
    return f"{_share(run)} of the steps, {run['made'][:10]} {run['made'][11:16]}"


def run_minutes(record: dict) -> dict[str, float]:
    """A run's minutes as train-miniatures' budget counts them (lib.miniature.trained.train.budget_seconds): every
    stage, a kept autoencoder's training included (from its entry), and every study the run made."""
    from lib.miniature.trained.train import MODELS, STUDIES as LOGGED, budget_seconds

    log = {name: stage for name, stage in record["stages"].items() if "seconds" in stage}
    log.update({LOGGED[MODELS.index(study)]: {"seconds": s.get("seconds") or 0}
                for study, s in record["studies"].items()})
    trained, kept = budget_seconds(log)
    return {"total": (trained + kept) / 60, "kept": kept / 60,
            "studies": sum(s.get("seconds") or 0 for s in record["studies"].values()) / 60,
            "pairs": (record["stages"].get("flux_pairs") or {}).get("seconds", 0) / 60}


def book_minutes(root: Path = TRAINED_DIR) -> float:
    """The committed run's minutes as the budget counts them (every stage of training.json, each measured on the
    chip its entry names, and the three studies)."""
    import json

    from lib.chapters.adherence import training_log
    from lib.miniature.trained.train import MODELS, STAGES, STUDIES as LOGGED, budget_seconds

    training = training_log(root)
    log = {}
    for name in STAGES:
        entry = training.get(name)
        if not (isinstance(entry, dict) and _time_of(entry)):
            raise RecordError(f"{root / 'training.json'}: {name} has no seconds; restore the file with git checkout, "
                              "or retrain with `python -m lib train-miniatures`")
        log[name] = entry
    for model, name in STUDIES.items():
        try:
            data = json.loads((Path(root) / name).read_text())
        except (OSError, ValueError) as err:
            raise RecordError(f"{Path(root) / name}: unreadable ({type(err).__name__}); restore it with git "
                              "checkout, or retrain with `python -m lib train-miniatures`") from err
        if not (isinstance(data, dict) and _time_of(data)):
            raise RecordError(f"{Path(root) / name}: no seconds; restore it with git checkout, or retrain with "
                              "`python -m lib train-miniatures`")
        log[LOGGED[MODELS.index(model)]] = data
    trained, kept = budget_seconds(log)
    return (trained + kept) / 60


def _time_of(entry: dict) -> bool:
    """Whether an entry's seconds are a time (a finite number, not negative)."""
    from lib.miniature.trained.reproduction import _number

    return _number(entry.get("seconds")) and entry["seconds"] >= 0


def _p_text(p: float) -> str:
    """'p = 0.016', or 'p < 0.001' (non-breaking spaces)."""
    return f"p\u00a0=\u00a0{p:.3f}" if p >= 0.001 else "p\u00a0<\u00a00.001"


def shorter_facts(runs: list[dict], root: Path = TRAINED_DIR) -> dict[str, str]:
    """Glue values for chapter 6 (prefix ch6-short-): SD3-mini's fewest-steps run against the committed weights it
    was compared with, whether those are still the tree's, a closing sentence that follows the measurement and,
    where the run trained all three models, its minutes against the 45-minute budget."""
    from lib.miniature.trained.train import BUDGET_MINUTES

    if not runs:
        raise RecordError(f"{root / 'shorter-trainings'}: no stored shorter training of SD3-mini; run `python -m lib "
                          "train-miniatures --fraction 0.25 --out FOLDER --work FOLDER`, then `python -m "
                          "lib.miniature.trained.reproduction FOLDER --write`")
    run = runs[-1]
    where = record_path(run, root).name
    rows = compare(run)
    sd3 = run["studies"]["sd3"]
    out = {"ch6-short-steps": str(run["plan"]["sd3_steps"]), "ch6-short-book-steps": str(
        run["committed_plan"]["sd3_steps"]), "ch6-short-share": _share(run), "ch6-short-preset": preset(),
           "ch6-short-time": _time(run["stages"].get("sd3") or {}), "ch6-short-budget": str(BUDGET_MINUTES),
           "ch6-short-book-minutes": f"{book_minutes(root):.0f}",
           "ch6-short-n": "/".join(sorted({str(r["n"]) for r in sd3["rows"]}, key=int)),
           "ch6-short-current": ("the weights committed in this tree" if current(run, committed_studies(root))["sd3"]
                                 else "weights since replaced in this tree (the record keeps their rows)")}
    lost = {}
    for kind in ("single", "relation"):
        mine = _preset_row(sd3["rows"], kind, "train", where)
        i = sd3["rows"].index(mine)
        row = [r for r in rows if r.study == "sd3"][i]
        out[f"ch6-short-book-{kind}"] = _rate(_preset_row(sd3["committed"]["rows"], kind, "train", where))
        out[f"ch6-short-{kind}"] = _rate(mine)
        out[f"ch6-short-p-{kind}"] = _p_text(row.p)
        lost[kind] = (100 * (row.committed[0] - row.reproduced[0]), row.p < ALPHA)
    (d1, sig1), (d2, sig2) = lost["single"], lost["relation"]
    if sig1 and sig2 and d1 > 0 and d2 > 0:
        out["ch6-short-verdict"] = (
            f"In this toy world, then, the book's adherence is bought with training steps: cut to {_share(run)} of "
            f"them, SD3-mini loses {d1:.0f} points on single objects and {d2:.0f} on relations, both differences "
            f"beyond chance (p < {ALPHA:g}).")
    else:
        out["ch6-short-verdict"] = (
            f"Cut to {_share(run)} of its steps, SD3-mini's rates move by {-d1:+.0f} points on single objects "
            f"({'beyond' if sig1 else 'within'} chance at p < {ALPHA:g}) and {-d2:+.0f} on relations "
            f"({'beyond' if sig2 else 'within'} chance), so the shorter training does not lose adherence on both.")
    out["ch6-short-unet"] = _unet_sentence(run, where)
    every = set(run["studies"]) == {"sd3", "flux", "unet"}
    m = run_minutes(run)
    machine = run.get("machine") or {}
    precision = sorted({str(s["precision"]) for s in run["stages"].values() if s.get("precision")})
    trained = " and ".join(MODEL_NAMES[s] for s in STUDIES if s in run["studies"])
    out["ch6-short-all"] = (
        f"That run trained and measured all three miniatures (FLUX-mini's teacher for {run['plan']['teacher_steps']} "
        f"and its student for {run['plan']['student_steps']} steps) in {m['total']:.1f} minutes as the budget "
        f"counts them, on one {machine.get('chip', 'unrecorded chip')} in "
        f"{', '.join(precision) or 'unrecorded precision'}: {'within' if m['total'] <= BUDGET_MINUTES else 'over'} "
        f"the {BUDGET_MINUTES}-minute budget. Of those minutes, {m['studies']:.1f} went to the adherence studies, "
        f"{m['pairs']:.1f} to the teacher's image pairs and {m['kept']:.1f} to the kept autoencoders' training "
        "(counted from their entries), none of which shrinks with the steps." if every else
        f"That run trained {trained} only, so it says nothing about the budget of all three miniatures.")
    return out


def _unet_sentence(run: dict, where: str) -> str:
    """UNet-mini against SD3-mini at the run's steps and at the book's (single objects and relations at the preset),
    or '' when the run did not train UNet-mini."""
    from lib.miniature.trained.study import find
    from lib.shapes.validate import two_proportion_p

    if "unet" not in run["studies"]:
        return ""

    def row(rows: list[dict], model: str, kind: str) -> dict:
        try:
            return find(rows, kind=kind, model=model)
        except KeyError:
            raise RecordError(f"{where}: no {model} row of {kind} at the preset; make the record anew") from None

    def rates(unet_rows: list[dict], sd3_rows: list[dict]) -> tuple[str, str, str]:
        unet, sd3, ps = [], [], []
        for kind in ("single", "relation"):
            u, d = row(unet_rows, "unet-mini", kind), row(sd3_rows, "sd3-medium", kind)
            unet.append(pct(u["all"][0]))
            sd3.append(pct(d["all"][0]))
            p = two_proportion_p(round(u["all"][0] * u["n"]), u["n"], round(d["all"][0] * d["n"]), d["n"])
            ps.append(_p_text(p))
        return " and ".join(unet), " and ".join(sd3), " and ".join(ps)

    u, d, p = rates(run["studies"]["unet"]["rows"], run["studies"]["sd3"]["rows"])
    bu, bd, bp = rates(run["studies"]["unet"]["committed"]["rows"], run["studies"]["sd3"]["committed"]["rows"])
    return (f"UNet-mini, trained in the same run for as many steps, gets every attribute right on {u} of single "
            f"objects and relations, where SD3-mini gets {d} ({p}). With the book's steps, the comparison of "
            f"chapter 2, the committed UNet-mini scores {bu} and SD3-mini {bd} ({bp}).")
