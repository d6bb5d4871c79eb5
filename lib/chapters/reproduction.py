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
