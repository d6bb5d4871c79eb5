"""Chapter 6 and the results page, from records: the side-by-side grid, the timing tables and their numbers.

Speedups are ratios of the recorded seconds of the two models on the same prompt and seed; nothing here
is typed in by hand.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any, Iterable

from lib.chapters.provenance import device_text, is_miniature, versions_text
from lib.config import PRESETS
from lib.prompts import BENCHMARK_PROMPTS
from lib.records import Record

MODELS = {PRESETS[m].family: PRESETS[m].title for m in ("sd3-medium", "flux-schnell")}  # item id prefix -> title
MIB, GIB = 2**20, 2**30


def _item(record: Record, item_id: str) -> dict[str, Any]:
    return record.item(item_id)


def _data_uri(path: Path, max_side: int = 320) -> str:
    """A PNG as a data URI, shrunk to max_side pixels so a page of ten images stays small."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def interactive_grid(record: Record):
    """Plotly grid: one row per prompt, SD3 left and FLUX right, each titled with its seconds (zoom to inspect)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    trained = record.source == "trained-miniature"
    tag = " [trained miniature: toy scale, shapes world]" if trained else \
        " [random-weight miniature]" if is_miniature(record) else ""
    titles, cells = [], []
    for p in BENCHMARK_PROMPTS:
        for key, name in MODELS.items():
            it = _item(record, f"{key}-{p.id}")
            short = name.replace("Stable Diffusion 3", "SD3")  # two short lines fit a phone's half width
            # a trained miniature's image follows its prompt: print the prompt, it says what to look for
            what = f'"{it["prompt"]}"' if trained else p.category
            titles.append(f"{short}: {it['seconds']:.2f} s<br>{what}")
            cells.append(it)
    fig = make_subplots(rows=len(BENCHMARK_PROMPTS), cols=2, subplot_titles=titles, vertical_spacing=0.04,
                        horizontal_spacing=0.03)
    for i, it in enumerate(cells):
        fig.add_trace(go.Image(source=_data_uri(record.folder / it["image"]), name=it["id"],
                               hovertemplate=f"{it['id']}: {it['seconds']:.2f} s<extra></extra>"),
                      row=i // 2 + 1, col=i % 2 + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=11)
    # The title sits 40 px below the top, clear of plotly's mode bar, and starts at the left edge.
    fig.update_layout(height=300 * len(BENCHMARK_PROMPTS), margin=dict(l=10, r=10, t=110, b=10),
                      title=dict(text=f"Same prompts, same seed{tag}", font_size=13, x=0.01, xanchor="left",
                                 y=1, yref="container", yanchor="top", pad=dict(t=40)),
                      template="plotly_white")
    return fig


def timing_rows(record: Record) -> list[dict[str, Any]]:
    """Per prompt: each model's seconds and peak memory, and FLUX's speedup over SD3 (SD3 s / FLUX s)."""
    rows = []
    for p in BENCHMARK_PROMPTS:
        sd3, flux = _item(record, f"sd3-{p.id}"), _item(record, f"flux-{p.id}")
        rows.append({"prompt": p.category, "SD3 Medium (s)": sd3["seconds"], "FLUX.1-schnell (s)": flux["seconds"],
                     "speedup (SD3 / FLUX)": sd3["seconds"] / flux["seconds"],
                     "SD3 peak (MiB)": sd3["peak_bytes"] / MIB, "FLUX peak (MiB)": flux["peak_bytes"] / MIB})
    return rows


def timing_table(record: Record):
    """timing_rows as a rounded DataFrame, with a last row of totals."""
    import pandas as pd

    df = pd.DataFrame(timing_rows(record)).set_index("prompt")
    total = {"SD3 Medium (s)": df["SD3 Medium (s)"].sum(), "FLUX.1-schnell (s)": df["FLUX.1-schnell (s)"].sum()}
    total["speedup (SD3 / FLUX)"] = total["SD3 Medium (s)"] / total["FLUX.1-schnell (s)"]
    total.update({"SD3 peak (MiB)": df["SD3 peak (MiB)"].max(), "FLUX peak (MiB)": df["FLUX peak (MiB)"].max()})
    df.loc["all five (sum; peak: max)"] = total
    return df.round({"SD3 Medium (s)": 3, "FLUX.1-schnell (s)": 3, "speedup (SD3 / FLUX)": 2,
                     "SD3 peak (MiB)": 0, "FLUX peak (MiB)": 0})


def benchmark_table(record: Record):
    """The `benchmark` record's table (both models, several step counts), readable column names."""
    import pandas as pd

    df = pd.DataFrame(record.tables["benchmark"])
    names = {"text_encoding_s": "text encoding (s)", "denoising_s": "denoising (s)", "vae_decode_s": "VAE decode (s)",
             "total_s": "total (s)", "peak_mb": "peak (MiB)"}
    return df.rename(columns=names).set_index(["model", "steps"]).round(3)


def benchmark_figure(record: Record):
    """Seconds of denoising per image against steps, one line per model (plotly)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    rows = record.tables["benchmark"]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["steps"])
        fig.add_trace(go.Scatter(x=[r["steps"] for r in mine], y=[r["denoising_s"] for r in mine],
                                 mode="lines+markers", name=model))
    steps = sorted({r["steps"] for r in rows})
    fig.update_layout(xaxis_title="steps", yaxis_title="denoising seconds per image", height=380,
                      template="plotly_white", margin=dict(l=50, r=20, t=40, b=50),
                      legend=dict(orientation="h", x=0, y=-0.25, yanchor="top"))
    fig.update_xaxes(type="log", tickvals=steps, ticktext=[str(s) for s in steps])  # the counts run, no minor ticks
    return fig


def ch6_facts(compare: Record, benchmark: Record) -> dict[str, str]:
    """Chapter 6's numbers: speedups per prompt and overall, and the per-step cost of each model."""
    rows = timing_rows(compare)
    speed = [r["speedup (SD3 / FLUX)"] for r in rows]
    sd3_total = sum(r["SD3 Medium (s)"] for r in rows)
    flux_total = sum(r["FLUX.1-schnell (s)"] for r in rows)
    faster = sum(s > 1 for s in speed)
    bench = benchmark.tables["benchmark"]
    per_step = {m: sum(r["denoising_s"] / r["steps"] for r in bench if r["model"] == m)
                / sum(1 for r in bench if r["model"] == m) for m in dict.fromkeys(r["model"] for r in bench)}
    return {
        "ch6-n": str(len(rows)), "ch6-faster": str(faster),
        "ch6-speed-min": f"{min(speed):.2f}", "ch6-speed-max": f"{max(speed):.2f}",
        "ch6-speed-total": f"{sd3_total / flux_total:.2f}",
        "ch6-sd3-total": f"{sd3_total:.3g}", "ch6-flux-total": f"{flux_total:.3g}",
        "ch6-sd3-step": f"{per_step.get('sd3-medium', float('nan')):.3g}",
        "ch6-flux-step": f"{per_step.get('flux-schnell', float('nan')):.3g}",
        "ch6-sd3-steps": str(PRESETS["sd3-medium"].steps), "ch6-flux-steps": str(PRESETS["flux-schnell"].steps),
        "ch6-seed": str(_item(compare, f"sd3-{BENCHMARK_PROMPTS[0].id}")["seed"]),
    }


def results_rows(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Every image of every real-weights record: the machine it was made on, the setup, seconds and peak memory."""
    rows = []
    for r in records:
        if r.source != "weights":
            continue
        for it in r.items:
            c, dev, made = it["config"], it["made"]["device"], it["made"]
            rows.append({
                "chip": dev.get("gpu") or dev.get("chip") or "unknown",
                "memory (GiB)": round((dev.get("gpu_memory_bytes") or dev.get("memory_bytes") or 0) / GIB),
                "model": it.get("model", c.get("model")),
                "quantization": c.get("quantization", "none") + (", no T5" if c.get("drop_t5") else ""),
                "resolution": f"{c.get('width')}×{c.get('height')}", "steps": c.get("steps"),
                "seconds per image": round(it["seconds"], 2), "peak memory (GiB)": round(it["peak_bytes"] / GIB, 2),
                "record": r.name, "date": made["created"][:10], "device": device_text(dev),
                "versions": versions_text({k: v for k, v in made["versions"].items() if k in ("torch", "diffusers")}),
            })
    return rows


def results_table(records: Iterable[Record]):
    """results_rows as a DataFrame (empty, with its columns, when there is no real-weights record)."""
    import pandas as pd

    cols = ["chip", "memory (GiB)", "model", "quantization", "resolution", "steps", "seconds per image",
            "peak memory (GiB)", "record", "date", "versions"]
    rows = results_rows(records)
    return pd.DataFrame(rows, columns=cols + ["device"])[cols]


def adherence_table(sd3_rows: list[dict], flux_rows: list[dict]) -> Any:
    """The trained miniatures head to head at their presets (SD3-mini 28 guided steps, the FLUX-mini student 4
    unguided; the FLUX-mini teacher beside them): transformer passes per image and the share of images right with
    its Wilson 95 % interval, per kind of prompt and attribute (lib.chapters.adherence, lib.chapters.distill)."""
    import pandas as pd

    from lib.chapters.adherence import ATTRIBUTE_NAMES, rate_text
    from lib.chapters.distill import passes
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS, TEACHER_GUIDANCE, TEACHER_STEPS, find

    setups = [("SD3-mini", sd3_rows, dict(steps=DEFAULT_STEPS, guidance=DEFAULT_GUIDANCE)),
              ("FLUX-mini (student)", flux_rows, dict(model="flux-schnell", steps=4, guidance=1.0)),
              ("FLUX-mini teacher", flux_rows, dict(model="flux-teacher", steps=TEACHER_STEPS,
                                                    guidance=TEACHER_GUIDANCE))]
    out = []
    for kind, attributes in (("single", ("all", "colour", "shape", "count")), ("relation", ("all", "colour", "shape",
                                                                                     "relation", "binding"))):
        for a in attributes:
            row = {"prompts": "one object" if kind == "single" else "two objects, a relation",
                   "attribute": ATTRIBUTE_NAMES.get(a, a)}
            for name, rows, kw in setups:
                r = find(rows, kind=kind, **kw)
                row[f"{name}, {r['steps']} steps, {passes(r)} passes"] = rate_text(r, a)
            out.append(row)
    return pd.DataFrame(out).set_index(["prompts", "attribute"])
