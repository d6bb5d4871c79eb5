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
