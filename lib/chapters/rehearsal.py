"""The memory evidence of *Running this book* and chapters 4-5: the full-size rehearsal's measured peaks.

`python -m lib rehearse` (lib.rehearsal) runs the real loading code on full-size SD3 Medium and FLUX.1-schnell
architectures with random weights, on a CPU in bfloat16, and records for every load and stage the process's
peak resident memory (the stand-in for a Mac's unified memory) and the bytes of weights resident. Its images
are noise and its times are CPU times: only the memory is evidence, and this module shows only that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.records import Record, load_record, record_paths

GB = 1e9
PREFIX = "rehearsal-"
STEP_NAMES = {"load_text_encoders": "load text encoders", "text_encoding": "encode prompt",
              "load_denoiser": "load transformer", "denoising": "denoise", "load_decoder": "load VAE",
              "vae_decode": "decode",
              "load_all": "load everything"}
# Budgets of the issue that introduced the rehearsal, checked against its records (peaks in GB).
# A peak this close to (weights + a process without weights) is "at" that sum: run-to-run variation of the process
# peak is ~0.02-0.07 GB across the rehearsal's repeated runs (session note of 2026-12-04).
AT_SUM_GB = 0.05
BUDGETS_GB = {"rehearsal-flux-staged": 10.5, "rehearsal-flux-staged-cached": 7.5, "rehearsal-sd3-drop-t5-staged": 4.5}


def rehearsal_records(root: Path) -> dict[str, Record]:
    """The newest rehearsal record of each configuration under root (any machine folder), by name."""
    found: dict[str, Record] = {}
    for path in record_paths(root):
        if path.parent.name.startswith(PREFIX):
            record = load_record(path)
            if record.source == "random-weights-full-size" and (
                    record.name not in found or record.created > found[record.name].created):
                found[record.name] = record
    return found


def of_model(records: dict[str, Record], model: str) -> dict[str, Record]:
    """The configurations of one model ("sd3-medium" or "flux-schnell")."""
    return {n: r for n, r in records.items() if r.items[0]["config"]["model"] == model}


def steps(record: Record) -> list[dict[str, Any]]:
    """Every load and stage of the record's one image, in the order they ran, in GB."""
    item = record.items[0]
    loads = item.get("loads", [])
    stages = {s["name"]: s for s in item["stages"]}
    order = [s for s in loads if s["name"] in ("load_text_encoders", "load_all")]
    order += [stages["text_encoding"]] if "text_encoding" in stages else []
    order += [s for s in loads if s["name"] == "load_denoiser"]
    order += [stages["denoising"]] if "denoising" in stages else []
    order += [s for s in loads if s["name"] == "load_decoder"]
    order += [stages["vae_decode"]] if "vae_decode" in stages else []
    return [{"step": STEP_NAMES.get(s["name"], s["name"]) + (" (cached)" if s.get("cached") else ""),
             "seconds": s["seconds"], "peak (GB)": s["peak_bytes"] / GB, "weights (GB)": s["weights_bytes"] / GB}
            for s in order]


def peak_gb(record: Record) -> float:
    """The highest process peak over every load and stage of the run, in GB."""
    return max(s["peak (GB)"] for s in steps(record))


def label(record: Record) -> str:
    """'FLUX.1-schnell Q4_K_S, staged, cached embeddings' from the record's config and fields."""
    item = record.items[0]
    c = item["config"]
    model = "FLUX.1-schnell" if c["model"] == "flux-schnell" else "SD3 Medium"
    parts = [model + (f" {c['quantization']}" if c.get("quantization", "none") != "none" else "")]
    if c["model"] == "sd3-medium":
        parts.append("without T5" if c.get("drop_t5") else "with T5")
    parts.append("staged" if c.get("staged") else "unstaged")
    if item.get("embeddings") == "warm":
        parts.append("cached embeddings")
    return ", ".join(parts)


def peaks_table(records: dict[str, Record]):
    """One row per configuration and step: seconds, process peak and weights resident (GB)."""
    import pandas as pd

    rows = [{"configuration": label(r), **s} for r in records.values() for s in steps(r)]
    df = pd.DataFrame(rows, columns=["configuration", "step", "seconds", "peak (GB)", "weights (GB)"])
    return df.set_index(["configuration", "step"]).round({"seconds": 1, "peak (GB)": 2, "weights (GB)": 2})


def peaks_figure(records: dict[str, Record], limit_gb: float | None = None, limit_text: str = ""):
    """Process peak per step, one group of bars per configuration (plotly), with an optional memory line."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in records.values():
        rows = steps(r)
        fig.add_bar(name=label(r), x=[s["step"].replace(" (cached)", "") for s in rows],
                    y=[s["peak (GB)"] for s in rows],
                    customdata=[[s["weights (GB)"]] for s in rows],
                    hovertemplate="%{x}: peak %{y:.2f} GB, weights %{customdata[0]:.2f} GB<extra>" + label(r) + "</extra>")
    if limit_gb:
        fig.add_hline(y=limit_gb, line_dash="dash", annotation_text=limit_text, annotation_position="top left")
    fig.update_layout(barmode="group", yaxis_title="process peak (GB)", height=420, template="plotly_white",
                      legend=dict(orientation="h", y=-0.25), margin=dict(l=50, r=20, t=30, b=40))
    return fig


def no_weights_gb(records: dict[str, Record]) -> float | None:
    """The most a process of the rehearsal held in a step with no weights resident at all (the encode step of a
    run whose embeddings came from the cache): Python, torch, diffusers, transformers and the library themselves.
    None when no such step was measured."""
    empty = [s["peak (GB)"] for r in records.values() for s in steps(r) if s["weights (GB)"] == 0]
    return max(empty) if empty else None


def floor(record: Record, records: dict[str, Record]) -> dict[str, Any] | None:
    """The run's peak split as (weights resident in its peak step) + (the rest), beside the lowest peak staging
    could reach: those weights on top of a process holding no weights (`no_weights_gb`). None if unmeasured."""
    empty = no_weights_gb(records)
    if empty is None:
        return None
    top = top_step(record)
    return {"step": top["step"], "peak": top["peak (GB)"], "weights": top["weights (GB)"],
            "rest": top["peak (GB)"] - top["weights (GB)"], "empty": empty, "floor": top["weights (GB)"] + empty}


def floor_facts(records: dict[str, Record], name: str, prefix: str) -> dict[str, str]:
    """Glue texts for where a run's peak comes from: {prefix}-peak, -step, -weights (resident in the peak step),
    -rest (the peak above them), -empty (`no_weights_gb`), -sum (weights + empty) and -verdict (the peak against
    that sum, with what follows). Empty when the run or a step without weights was not measured."""
    if name not in records or (f := floor(records[name], records)) is None:
        return {}
    gap = f["peak"] - f["floor"]
    if abs(gap) <= AT_SUM_GB:
        verdict = "at that sum, so no order of loading can lower it; only smaller weights would"
    elif gap > 0:
        verdict = f"{gap:.2f} GB above that sum: activations and the loaders' transient copies"
    else:  # memory-mapped weights count once read; an embedding table's rows that no prompt uses never are
        verdict = f"{-gap:.2f} GB under that sum, because memory-mapped weights count only where they were read"
    out = {k: f"{f[k]:.2f}" for k in ("peak", "weights", "rest", "empty")}
    out.update(sum=f"{f['floor']:.2f}", step=f["step"], verdict=verdict)
    return {f"{prefix}-{k}": v for k, v in out.items()}


def budget_lines(records: dict[str, Record]) -> list[str]:
    """Each budget against the measured peak: 'within' or 'OVER' (with where the peak comes from), or 'not
    measured'."""
    lines = []
    for name, budget in BUDGETS_GB.items():
        if name in records:
            peak = peak_gb(records[name])
            line = f"{label(records[name])}: peak {peak:.2f} GB, budget {budget} GB: " \
                   f"{'within' if peak <= budget else 'OVER'}"
            f = floor(records[name], records)
            if peak > budget and f is not None:
                line += (f" ({f['weights']:.2f} GB of weights in \"{f['step']}\" + {f['rest']:.2f} GB; a process "
                         f"with no weights held {f['empty']:.2f} GB, so {f['floor']:.2f} GB is this configuration's "
                         "floor)")
            lines.append(line)
        else:
            lines.append(f"{name}: not measured (run `python -m lib rehearse --only {name.removeprefix(PREFIX)}`)")
    return lines


def top_step(record: Record) -> dict[str, Any]:
    """The step (as `steps` gives it) in which the run's process peak was measured."""
    return max(steps(record), key=lambda s: s["peak (GB)"])


def peak_step(record: Record) -> str:
    """The name of the step in which the run's process peak was measured."""
    return top_step(record)["step"]


def fits_sentence(records: dict[str, Record], limit_gb: float) -> str:
    """Which measured configurations stay under `limit_gb` (a Mac's working set) and which do not."""
    fit = [label(r) for r in records.values() if peak_gb(r) <= limit_gb]
    over = [label(r) for r in records.values() if peak_gb(r) > limit_gb]
    parts = []
    if fit:
        parts.append(f"Under {limit_gb:g} GB, what fits a 16 GB Mac's working set: " + "; ".join(fit) + ".")
    if over:
        parts.append("Over it: " + "; ".join(over) + ".")
    return " ".join(parts)


def facts(records: dict[str, Record], prefix: str = "rh") -> dict[str, str]:
    """Glue texts: each configuration's peak ({prefix}-<name without 'rehearsal-'>) and the step it was measured
    in ({prefix}-<name>-step), the machine, torch version and date of the records."""
    out = {f"{prefix}-{name.removeprefix(PREFIX)}": f"{peak_gb(r):.1f}" for name, r in records.items()}
    out.update({f"{prefix}-{name.removeprefix(PREFIX)}-step": peak_step(r) for name, r in records.items()})
    if records:
        any_record = next(iter(records.values()))
        from lib.chapters.provenance import device_text

        out[f"{prefix}-machine"] = device_text(any_record.device)
        out[f"{prefix}-date"] = max(r.created for r in records.values())[:10]
        out[f"{prefix}-torch"] = str(any_record.versions.get("torch"))
    return out
