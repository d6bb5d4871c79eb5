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
           "ch6-repro-remark": record.get("remark") or "none (the record has no remark)"}
    for study in STUDIES:
        s = counts.get(study)
        out[f"ch6-repro-{study}"] = ("not retrained in this reproduction" if s is None else
                                     f"{s['inside']} of {s['rows']} inside, "
                                     f"{'none' if not s['differ'] else s['differ']} at p\u00a0<\u00a0{ALPHA:g}")
    return out


# ------------------------------------------------------------------------------------------ shorter trainings

# SD3-mini's conditions at its preset (28 steps, CFG 5, with T5) that the shorter-training table shows
SHORT_CONDITIONS = (("single", "train", "single objects"), ("relation", "train", "two objects and a relation"),
                    ("composition", "train", "compositions"), ("single", "heldout", "single objects, held-out"),
                    ("relation", "heldout", "relations, held-out"))


def shorter_runs(root: Path = TRAINED_DIR) -> list[dict]:
    """The stored shorter trainings (`train-miniatures --fraction F`) that retrained SD3-mini, most steps first."""
    from lib.miniature.trained.reproduction import SHORTER_KIND

    runs = [r for r in stored(root, SHORTER_KIND) if "sd3" in r["studies"]]
    return sorted(runs, key=lambda r: -r["plan"]["sd3_steps"])


def _preset_row(rows: list[dict], kind: str, split: str) -> dict | None:
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS

    for r in rows:
        if (r["kind"], r["split"], r["steps"], r["guidance"], r["t5"], r["quantization"]) == (
                kind, split, DEFAULT_STEPS, DEFAULT_GUIDANCE, True, "none"):
            return r
    return None


def _rate(row: dict | None) -> str:
    if row is None:
        return "not measured"
    rate, low, high = row["all"]
    return f"{pct(rate)} ({pct(low)}–{pct(high)})"


def _time(stage: dict) -> str:
    if not isinstance(stage.get("seconds"), (int, float)):
        return "not recorded"
    where = ", ".join(str(stage[k]) for k in ("chip", "precision") if stage.get(k))
    return f"{stage['seconds']:.0f}\u00a0s" + (f" ({where})" if where else "")


def shorter_table(runs: list[dict], root: Path = TRAINED_DIR) -> Any:
    """SD3-mini trained for the book's steps (the committed weights, and the newest reproduction's retrain) against
    the shorter trainings: steps, training time, final loss and the share of images with every attribute right on
    each of SHORT_CONDITIONS, with its 95 % interval. One column per run."""
    import pandas as pd

    from lib.chapters.adherence import training_log

    committed_log = training_log(root)
    columns: dict[str, list] = {}

    def column(name: str, steps, stage: dict, rows: list[dict]) -> None:
        loss = stage.get("final_loss")
        columns[name] = [str(steps), _time(stage), f"{loss:.4f}" if isinstance(loss, (int, float)) else "not recorded"]
        columns[name] += [_rate(_preset_row(rows, kind, split)) for kind, split, _ in SHORT_CONDITIONS]

    base = committed_studies(root)["sd3"]["rows"]
    column("book's plan, committed weights", committed_log.get("plan", {}).get("sd3_steps", "?"),
           committed_log.get("sd3") or {}, base)
    repro = [r for r in stored(root) if "sd3" in r["studies"]]
    if repro:
        r = repro[-1]
        column(f"book's plan, retrained {r['made'][:10]}", r["plan"]["sd3_steps"], r["stages"].get("sd3") or {},
               r["studies"]["sd3"]["rows"])
    for r in runs:
        share = r["plan"]["sd3_steps"] / r["committed_plan"]["sd3_steps"]
        column(f"{share:.0%} of the steps, {r['made'][:10]}", r["plan"]["sd3_steps"], r["stages"].get("sd3") or {},
               r["studies"]["sd3"]["rows"])
    index = ["SD3-mini training steps", "training time (chip, arithmetic)", "final loss (mean of its last 50 steps)"]
    index += [f"{label} (28 steps, CFG 5)" for *_, label in SHORT_CONDITIONS]
    return pd.DataFrame(columns, index=pd.Index(index, name="SD3-mini"))


def run_minutes(record: dict) -> dict[str, float]:
    """A run's minutes as train-miniatures' budget counts them (lib.miniature.trained.train.budget_line): every
    stage, a kept autoencoder's training included (from its entry), and every study the run made."""
    stages = record["stages"]
    studies = sum(s.get("seconds") or 0 for s in record["studies"].values())
    kept = sum(s.get("seconds") or 0 for s in stages.values() if s.get("kept"))
    trained = sum(s.get("seconds") or 0 for s in stages.values() if not s.get("kept"))
    return {"total": (trained + kept + studies) / 60, "studies": studies / 60, "kept": kept / 60,
            "pairs": (stages.get("flux_pairs") or {}).get("seconds", 0) / 60, "trained": trained / 60}


def book_minutes(root: Path = TRAINED_DIR) -> float:
    """The committed run's minutes as the budget counts them: every stage of training.json (each measured on the
    chip its entry names) and the three studies."""
    import json

    from lib.chapters.adherence import training_log
    from lib.miniature.trained.reproduction import STAGES

    log = training_log(root)
    seconds = sum((log.get(s) or {}).get("seconds") or 0 for s in STAGES)
    for name in STUDIES.values():
        try:
            seconds += json.loads((Path(root) / name).read_text()).get("seconds") or 0
        except (OSError, ValueError) as err:
            raise RecordError(f"{Path(root) / name}: unreadable ({type(err).__name__}); restore it with git "
                              "checkout, or retrain with `python -m lib train-miniatures`") from err
    return seconds / 60


def shorter_facts(runs: list[dict], root: Path = TRAINED_DIR) -> dict[str, str]:
    """Glue values for chapter 6 (prefix ch6-short-): SD3-mini's fewest-steps run against the committed weights,
    and, where that run trained all three models, its minutes against the 45-minute budget."""
    from lib.miniature.trained.train import BUDGET_MINUTES
    from lib.shapes.validate import two_proportion_p

    if not runs:
        raise RecordError(f"{root / 'shorter-trainings'}: no stored shorter training; run `python -m lib "
                          "train-miniatures --fraction 0.25 --out FOLDER --work FOLDER`, then `python -m "
                          "lib.miniature.trained.reproduction FOLDER --write`")
    run = runs[-1]
    base = committed_studies(root)["sd3"]["rows"]
    out = {"ch6-short-runs": str(len(runs)), "ch6-short-steps": str(run["plan"]["sd3_steps"]),
           "ch6-short-book-steps": str(run["committed_plan"]["sd3_steps"]),
           "ch6-short-share": f"{run['plan']['sd3_steps'] / run['committed_plan']['sd3_steps']:.0%}".replace(
               "%", "\u00a0%"),
           "ch6-short-time": _time(run["stages"].get("sd3") or {}), "ch6-short-budget": str(BUDGET_MINUTES),
           "ch6-short-book-minutes": f"{book_minutes(root):.0f}"}
    for kind in ("single", "relation"):
        a, b = _preset_row(base, kind, "train"), _preset_row(run["studies"]["sd3"]["rows"], kind, "train")
        out[f"ch6-short-book-{kind}"] = _rate(a)
        out[f"ch6-short-{kind}"] = _rate(b)
        p = two_proportion_p(round(a["all"][0] * a["n"]), a["n"], round(b["all"][0] * b["n"]), b["n"])
        out[f"ch6-short-p-{kind}"] = f"{p:.3f}" if p >= 0.001 else "< 0.001"
    every = set(run["studies"]) == {"sd3", "flux", "unet"}
    m = run_minutes(run)
    machine = run.get("machine") or {}
    precision = sorted({str(s["precision"]) for s in run["stages"].values() if s.get("precision")})
    out["ch6-short-all"] = (
        f"That run trained and measured all three miniatures (FLUX-mini's teacher for {run['plan']['teacher_steps']} "
        f"and its student for {run['plan']['student_steps']} steps) in {m['total']:.0f} minutes as the budget counts "
        f"them, on one {machine.get('chip', 'unrecorded chip')} in {', '.join(precision) or 'unrecorded precision'}: "
        f"{'within' if m['total'] <= BUDGET_MINUTES else 'over'} the {BUDGET_MINUTES}-minute budget. Of those "
        f"minutes, {m['studies']:.0f} went to the adherence studies, {m['pairs']:.0f} to the teacher's image pairs "
        f"and {m['kept']:.0f} to the kept autoencoders' training (counted from their entries), none of which "
        "shrinks with the steps." if every else
        "That run trained SD3-mini alone, so it says nothing about the budget of all three miniatures.")
    return out
