"""Figures and tables of chapters 4-6, built from records only (`lib.records` format), so live and stored look alike.

Every image strip says in its title when its record is not from the real weights. Plotly legends sit below
the plot, clear of plotly's mode bar.
"""

from __future__ import annotations

from typing import Any

from lib.chapters.provenance import is_miniature
from lib.records import Record

STAGE_NAMES = {"text_encoding": "text encoding", "denoising": "denoising", "vae_decode": "VAE decode"}
STAGE_COLORS = {"text_encoding": "#4c78a8", "denoising": "#f58518", "vae_decode": "#54a24b"}
MIB = 2**20
# Below the plot area, so the legend never sits under plotly's mode bar (top right) on a narrow page.
LEGEND_BELOW = dict(orientation="h", x=0, xanchor="left", y=-0.18, yanchor="top")


def stages(it: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """An item's stages by name."""
    return {s["name"]: s for s in it["stages"]}


def stage_table(record: Record, label_key: str = "id") -> Any:
    """One row per item: seconds per stage, total seconds, peak memory (MiB), weights resident while denoising."""
    import pandas as pd

    rows = []
    for it in record.items:
        st = stages(it)
        row = {label_key: it.get(label_key, it["id"])}
        row.update({f"{STAGE_NAMES[n]} (s)": round(st[n]["seconds"], 3) for n in STAGE_NAMES if n in st})
        row["total (s)"] = round(it["seconds"], 3)
        row["peak memory (MiB)"] = round(it["peak_bytes"] / MIB, 1)
        rows.append(row)
    return pd.DataFrame(rows).set_index(label_key)


def stage_profile(records: dict[str, Record], label_key: str = "category") -> Any:
    """Stacked bars of seconds per stage, one bar per item of each record (plotly: hover for the numbers)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for stage, name in STAGE_NAMES.items():
        x, y = [], []
        for rec_label, record in records.items():
            for it in record.items:
                st = stages(it)
                if stage in st:
                    y.append([rec_label, str(it.get(label_key, it["id"]))])
                    x.append(st[stage]["seconds"])
        fig.add_trace(go.Bar(x=x, y=[list(v) for v in zip(*y)] if y else [], orientation="h", name=name,
                             marker_color=STAGE_COLORS[stage],
                             hovertemplate="%{y}: %{x:.3f} s<extra>" + name + "</extra>"))
    fig.update_layout(barmode="stack", height=170 + 28 * sum(len(r.items) for r in records.values()),
                      xaxis_title="seconds", template="plotly_white", margin=dict(l=20, r=20, t=40, b=90),
                      legend={**LEGEND_BELOW, "y": -0.12}, yaxis=dict(autorange="reversed"))
    return fig


def memory_bars(record: Record) -> Any:
    """Peak memory and resident weights per stage for each item (e.g. staged vs unstaged), in MiB."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("peak memory during the stage (MiB)",
                                                         "weights resident in the stage (MiB)"))
    colors = ["#4c78a8", "#e45756", "#72b7b2", "#b279a2"]
    for i, it in enumerate(record.items):
        st = stages(it)
        names = [STAGE_NAMES[n] for n in STAGE_NAMES if n in st]
        for col, key in ((1, "peak_bytes"), (2, "weights_bytes")):
            fig.add_trace(go.Bar(x=names, y=[st[n][key] / MIB for n in STAGE_NAMES if n in st], name=it["id"],
                                 marker_color=colors[i % len(colors)], showlegend=col == 1, legendgroup=it["id"],
                                 hovertemplate="%{x}: %{y:.1f} MiB<extra>" + it["id"] + "</extra>"), row=1, col=col)
    fig.update_layout(barmode="group", height=420, template="plotly_white", margin=dict(l=40, r=20, t=60, b=40),
                      legend=LEGEND_BELOW)
    return fig


def image_strip(images: list, titles: list[str], record: Record, suptitle: str = "",
                prompts: list[str] | None = None) -> Any:
    """A row of images with titles (matplotlib), and each image's prompt under it when given (wrapped); the
    strip's title says which kind of model made the images (random-weight miniature, trained miniature, ...)."""
    import textwrap

    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(1, n, figsize=(2.1 * n, 3.3 if prompts else 2.6), squeeze=False)
    for i, (ax, image, title) in enumerate(zip(axes[0], images, titles)):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        if prompts:
            ax.set_xlabel("\n".join(textwrap.wrap(f'"{prompts[i]}"', 24)), fontsize=7.5)
    tag = {"miniature": "random-weight miniature models: not real output",
           "trained-miniature": "trained miniature (toy scale, shapes world)"}.get(record.source, record.source)
    fig.suptitle(f"{suptitle} [{tag}]" if suptitle else f"[{tag}]", fontsize=9,
                 color="#b00020" if record.source == "miniature" else "black")
    fig.tight_layout()
    return fig


def record_strip(record: Record, title_of, suptitle: str = "") -> Any:
    """image_strip over every item of a record; `title_of(item)` makes each title. A trained miniature's record
    also prints each image's prompt under it: its images follow their prompts, and the prompt says what to look for."""
    images = [record.image(it["id"]) for it in record.items]
    prompts = [it["prompt"] for it in record.items] if record.source == "trained-miniature" else None
    return image_strip(images, [title_of(it) for it in record.items], record, suptitle, prompts)


def seconds_by(record: Record, key: str) -> Any:
    """Total seconds and denoising seconds against a config field (steps, guidance), as a plotly line chart."""
    import plotly.graph_objects as go

    items = sorted(record.items, key=lambda it: it["config"][key])
    x = [it["config"][key] for it in items]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=[it["seconds"] for it in items], mode="lines+markers", name="total"))
    fig.add_trace(go.Scatter(x=x, y=[stages(it)["denoising"]["seconds"] for it in items], mode="lines+markers",
                             name="denoising"))
    fig.update_layout(xaxis_title=key, yaxis_title="seconds", height=380, template="plotly_white",
                      margin=dict(l=50, r=20, t=40, b=50), legend={**LEGEND_BELOW, "y": -0.25})
    fig.update_xaxes(tickvals=x)  # the values run, not plotly's in-between ticks
    return fig


def per_step_seconds(record: Record) -> list[float]:
    """Denoising seconds divided by steps, per item: the cost of one step."""
    return [stages(it)["denoising"]["seconds"] / it["config"]["steps"] for it in record.items]
