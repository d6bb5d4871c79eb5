"""Chapter view of the stored reproductions of the trained miniatures (lib.miniature.trained.reproduction): did a
retrain in a fresh clone score what the committed weights score?

Reads precomputed/trained-miniatures/reproductions/ (written by `python -m lib.miniature.trained.reproduction
FOLDER --write`) and the committed studies beside the weights; nothing is trained or generated here.
"""

from __future__ import annotations

import json
from typing import Any

from lib.errors import RecordError
from lib.miniature.trained import TRAINED_DIR
from lib.miniature.trained.reproduction import (MODEL_NAMES, REPRODUCTIONS, Row, committed_studies, compare,
                                                outside_chance, record_path, stored, summary)

# the stages whose final loss a reproduction can be held against (the autoencoders are kept by default)
LOSS_STAGES = {"sd3": ("sd3",), "flux": ("flux_teacher", "flux_student"), "unet": ("unet",)}
STAGE_NAMES = {"sd3": "SD3-mini", "flux_teacher": "FLUX-mini teacher", "flux_student": "FLUX-mini student",
               "unet": "UNet-mini"}


def latest(root=TRAINED_DIR) -> tuple[dict, list[Row]]:
    """The newest stored reproduction and its rows against the committed studies; RecordError if there is none, or
    if it reproduced other weights than those committed now."""
    records = stored(root)
    if not records:
        raise RecordError(f"{root / REPRODUCTIONS}: no stored reproduction; retrain (README, 'Trained miniatures') "
                          "and run `python -m lib.miniature.trained.reproduction FOLDER --write`")
    record = records[-1]
    return record, compare(record, committed_studies(root))


def _pct(v: float) -> str:
    return f"{100 * v:.1f}\u00a0%"


def _committed_losses(root=TRAINED_DIR) -> dict:
    try:
        return json.loads((root / "training.json").read_text())
    except (OSError, ValueError) as err:
        raise RecordError(f"{root / 'training.json'}: unreadable ({err})") from err


def summary_table(record: dict, rows: list[Row], root=TRAINED_DIR) -> Any:
    """Per model: conditions, how many retrained rates lie inside the committed intervals, how many differ at
    p < 0.05, and the final training losses of both runs."""
    import pandas as pd

    committed = _committed_losses(root)
    out = []
    for study, s in summary(rows).items():
        losses = []
        for stage in LOSS_STAGES[study]:
            a, b = (committed.get(stage) or {}).get("final_loss"), record["stages"].get(stage, {}).get("final_loss")
            if a is not None and b is not None:
                losses.append(f"{STAGE_NAMES[stage]}: {a:.4f} → {b:.4f}")
        out.append({"model": MODEL_NAMES[study], "conditions": s["rows"],
                    "inside the committed interval": s["inside"], "p < 0.05": s["differ"],
                    "final loss, committed → retrained": "; ".join(losses) or "not recorded"})
    return pd.DataFrame(out).set_index("model")


def rows_table(rows: list[Row]) -> Any:
    """Every condition: the committed rate with its interval, the retrain's, inside or not, and p."""
    import pandas as pd

    return pd.DataFrame([{"condition": r.label,
                          "committed (95 % interval)": f"{_pct(r.committed[0])} ({_pct(r.committed[1])}–"
                                                       f"{_pct(r.committed[2])})",
                          "retrained": _pct(r.reproduced[0]), "inside": "yes" if r.inside else "no",
                          "p": f"{r.p:.3f}"} for r in rows]).set_index("condition")


def facts(record: dict, rows: list[Row], root=TRAINED_DIR) -> dict[str, str]:
    """Glue values for chapter 6 (prefix ch6-repro-); the record's own words about the run are ch6-repro-remark, which
    the chapter shows as Markdown (plain weight: it is a paragraph, not a number)."""
    machine = record.get("machine") or {}
    precision = sorted({s["precision"] for s in record["stages"].values() if s.get("precision")})
    counts = summary(rows)
    differ = [r for r in rows if r.p < 0.05]
    out = {"ch6-repro-made": (record.get("made") or "unknown")[:10],
           "ch6-repro-chip": f"{machine.get('chip', 'unknown')} ({machine.get('cpu_count')} cores)",
           "ch6-repro-precision": ", ".join(precision) or "unrecorded precision",
           "ch6-repro-commit": (record.get("commit") or "unknown")[:7],
           "ch6-repro-file": record_path(record, root).relative_to(root.parent.parent).as_posix(),
           "ch6-repro-outside": f"{100 * outside_chance():.0f}\u00a0%",
           "ch6-repro-rows": str(len(rows)),
           "ch6-repro-n": "/".join(sorted({str(r.n) for r in rows}, key=int)),
           "ch6-repro-inside": str(sum(r.inside for r in rows)),
           "ch6-repro-ndiffer": "none" if not differ else str(len(differ)),
           "ch6-repro-differ": "; ".join(f"{r.label}: {_pct(r.committed[0])} committed, {_pct(r.reproduced[0])} "
                                         f"retrained (p\u00a0=\u00a0{r.p:.3f})" for r in differ) or "none",
           "ch6-repro-remark": record.get("remark") or "none (the record has no remark)"}
    for study, s in counts.items():
        out[f"ch6-repro-{study}"] = (f"{s['inside']} of {s['rows']} inside, "
                                     f"{'none' if not s['differ'] else s['differ']} at p\u00a0<\u00a00.05")
    return out
