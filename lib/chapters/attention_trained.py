"""Chapter 2's trained test of one-way against two-way text attention: UNet-mini (cross-attention, the SD 1.5
design; lib.miniature.trained.unet) against SD3-mini (MMDiT joint attention; lib.miniature.trained.sd3), trained
alike on the shapes world and scored alike.

Rates come from precomputed/trained-miniatures/adherence-unet.json and adherence.json (both written by
`python -m lib train-miniatures` on the committed weights): shares of prompts whose image lib.shapes' scorer finds
right, with Wilson 95 % intervals; the comparison words come from those intervals (lib.chapters.adherence).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.chapters.adherence import ATTRIBUTE_NAMES, KIND_NAMES, compare_words, load_study, pct, rate_text
from lib.chapters.views import LEGEND_BELOW
from lib.errors import RecordError

NAMES = {"unet-mini": "UNet-mini (cross-attention)", "sd3-medium": "SD3-mini (joint attention)"}
COLOURS = {"unet-mini": "#ff7f0e", "sd3-medium": "#1f77b4"}
FIGURE_ATTRIBUTES = ("colour", "shape", "count", "binding", "relation", "all")


def load_unet(root: Path | None = None) -> dict:
    """The stored UNet-mini study; RecordError naming the command that makes it when missing or unreadable."""
    return load_study("adherence-unet.json", "UNet-mini study", "--models unet", root)


def matched(sd3_rows: list[dict], unet_rows: list[dict]) -> list[tuple[str, dict, dict]]:
    """(label, UNet-mini row, SD3-mini row) for every UNet-mini condition, SD3-mini's at the same kind, split,
    steps, guidance and T5; RecordError if SD3-mini's study lacks one (the two studies were not run alike)."""
    from lib.miniature.trained.study import find

    out = []
    for u in unet_rows:
        try:
            s = find(sd3_rows, kind=u["kind"], split=u["split"], steps=u["steps"], guidance=u["guidance"], t5=u["t5"])
        except KeyError as err:
            raise RecordError(f"SD3-mini's adherence study has no row to match UNet-mini's {u['kind']}/{u['split']} "
                              "condition: run `python -m lib train-miniatures --models sd3 unet`") from err
        split = "" if u["split"] == "train" else ", held-out combinations"
        out.append((f"{KIND_NAMES[u['kind']]}{split}", u, s))
    return out


def table(sd3_rows: list[dict], unet_rows: list[dict]) -> Any:
    """One row per condition: both models' share of images with every attribute right, and how UNet-mini's stands
    against SD3-mini's."""
    import pandas as pd

    out = [{"prompts": label, "images": u["n"], NAMES["unet-mini"]: rate_text(u), NAMES["sd3-medium"]: rate_text(s),
            "UNet-mini is": f"{compare_words(u, s)} SD3-mini"} for label, u, s in matched(sd3_rows, unet_rows)]
    return pd.DataFrame(out).set_index("prompts")


def attribute_figure(sd3_rows: list[dict], unet_rows: list[dict], kind: str = "relation",
                     split: str = "train") -> Any:
    """Per attribute of one kind of prompt, both models' share right as bars with 95 % intervals (plotly)."""
    import plotly.graph_objects as go

    row = next((u, s) for _, u, s in matched(sd3_rows, unet_rows) if u["kind"] == kind and u["split"] == split)
    attributes = [a for a in FIGURE_ATTRIBUTES if a in row[0]["scores"] and a in row[1]["scores"]]
    fig = go.Figure()
    for model, r in zip(("unet-mini", "sd3-medium"), row):
        rates = [r["scores"][a] for a in attributes]
        fig.add_trace(go.Bar(
            x=[ATTRIBUTE_NAMES.get(a, a) for a in attributes], y=[100 * v[0] for v in rates], name=NAMES[model],
            marker_color=COLOURS[model],
            error_y=dict(type="data", symmetric=False, array=[100 * (v[2] - v[0]) for v in rates],
                         arrayminus=[100 * (v[0] - v[1]) for v in rates]),
            customdata=[[pct(v[1]), pct(v[2])] for v in rates],
            hovertemplate="%{x}: %{y:.0f} % right (95 % interval %{customdata[0]}-%{customdata[1]} %)"
                          f"<extra>{NAMES[model]}</extra>"))
    fig.update_layout(barmode="group", yaxis_title="% of images right", yaxis_range=[0, 105], height=420,
                      template="plotly_white", margin=dict(l=60, r=20, t=30, b=50),
                      legend={**LEGEND_BELOW, "y": -0.22})
    return fig


def facts(sd3_data: dict, unet_data: dict, log: dict, prefix: str = "ch2-tu") -> dict[str, str]:
    """Glue values: sizes, training and the rates the text names, with the comparison words."""
    from lib.miniature.trained import unet
    from lib.miniature.trained.study import find

    u_log, s_log = log["unet"], log["sd3"]
    cfg = unet.unet_config()
    facts = {
        f"{prefix}-unet-params": f"{u_log['parameters']:,}", f"{prefix}-sd3-params": f"{s_log['parameters']:,}",
        f"{prefix}-param-diff": f"{100 * abs(u_log['parameters'] / s_log['parameters'] - 1):.1f}",
        f"{prefix}-steps": str(u_log["steps"]), f"{prefix}-batch": str(u_log["batch"]),
        f"{prefix}-unet-minutes": f"{u_log['seconds'] / 60:.0f}", f"{prefix}-sd3-minutes": f"{s_log['seconds'] / 60:.0f}",
        f"{prefix}-unet-loss": f"{u_log['final_loss']:.3f}", f"{prefix}-sd3-loss": f"{s_log['final_loss']:.3f}",
        f"{prefix}-levels": str(len(cfg["block_out_channels"])),
        f"{prefix}-widths": " and ".join(str(w) for w in cfg["block_out_channels"]),
        f"{prefix}-n": str(unet_data["n"]), f"{prefix}-steps-inf": str(unet_data["rows"][0]["steps"]),
        f"{prefix}-guidance": f"{unet_data['rows'][0]['guidance']:g}",
        f"{prefix}-chip": unet_data["machine"].get("chip", "unknown CPU"),
    }
    for kind, split in (("single", "train"), ("relation", "train"), ("composition", "train"), ("single", "heldout"),
                        ("relation", "heldout")):
        u = find(unet_data["rows"], kind=kind, split=split, model="unet-mini")
        s = find(sd3_data["rows"], kind=kind, split=split)
        tag = kind if split == "train" else f"{kind}-heldout"
        for attribute in ("all", "shape", "relation", "binding", "colour"):
            if attribute in u["scores"] and attribute in s["scores"]:
                suffix = "" if attribute == "all" else f"-{attribute}"
                facts[f"{prefix}-{tag}{suffix}-unet"] = rate_text(u, attribute)
                facts[f"{prefix}-{tag}{suffix}-sd3"] = rate_text(s, attribute)
                facts[f"{prefix}-{tag}{suffix}-vs"] = compare_words(u, s, attribute)
    facts[f"{prefix}-overall-verdict"] = overall_verdict(sd3_data["rows"], unet_data["rows"])
    facts[f"{prefix}-relation-verdict"] = RELATION_VERDICT[facts[f"{prefix}-relation-relation-vs"]]
    return facts


# what the relation attribute's comparison (UNet-mini against SD3-mini) says about joint attention
RELATION_VERDICT = {
    "within the uncertainty of": "the joint attention that lets SD3 update its text does not, in this toy, "
                                 "place the objects measurably better",
    "lower than": "the joint attention that lets SD3 update its text does place the toy's objects better",
    "higher than": "the joint attention that lets SD3 update its text places the toy's objects worse"}


def overall_verdict(sd3_rows: list[dict], unet_rows: list[dict]) -> str:
    """Which design the intervals favour over every condition measured, in words."""
    words = {compare_words(u, s) for _, u, s in matched(sd3_rows, unet_rows)}
    if words == {"higher than"}:
        return "the older design is the stronger one on every kind of prompt"
    if words == {"lower than"}:
        return "the MMDiT is the stronger one on every kind of prompt"
    return "neither design is ahead on every kind of prompt"


def sample_grid(prompts: list[str], seed: int = 0, root: Path | None = None) -> Any:
    """Images drawn now by both stored models from the same prompts and seeds, at the study's defaults: one row per
    prompt (named on the left), UNet-mini's column then SD3-mini's, and over each image what the scorer finds wrong
    (matplotlib; two columns stay readable on a phone)."""
    import textwrap

    import matplotlib.pyplot as plt

    from lib.miniature.trained import IMAGE_SIZE, trained_paths
    from lib.miniature.trained.evaluate import generate
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS, _pipeline
    from lib.miniature.trained.text import T5_CONTEXT, quiet_truncation
    from lib.miniature.trained.unet import unet_pipeline
    from lib.shapes import score

    paths = trained_paths(root, ("sd3", "unet"))
    with quiet_truncation():  # loading SD3's pipeline makes transformers say it falls back to a PIL image processor
        pipes = {"unet-mini": unet_pipeline(paths.sd3, paths.unet), "sd3-medium": _pipeline(paths.sd3, t5=True)}
    common = dict(height=IMAGE_SIZE, width=IMAGE_SIZE, max_sequence_length=T5_CONTEXT, seed=seed,
                  num_inference_steps=DEFAULT_STEPS, guidance_scale=DEFAULT_GUIDANCE)
    fig, axes = plt.subplots(len(prompts), 2, figsize=(4.4, 1.95 * len(prompts)), squeeze=False)
    for j, (model, pipe) in enumerate(pipes.items()):
        images = generate(pipe, prompts, **common)
        for i, (image, prompt) in enumerate(zip(images, prompts)):
            ax = axes[i][j]
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            wrong = [a for a, ok in score(image, prompt).items() if not ok and a != "present"]
            verdict = "\n".join(textwrap.wrap("all right" if not wrong else "wrong: " + ", ".join(wrong), 26))
            ax.text(0.5, 1.03, verdict, transform=ax.transAxes, ha="center", va="bottom", fontsize=7.5,
                    color="black" if not wrong else "#b00020")
            if i == 0:  # the column's model, over its first verdict
                ax.set_title(NAMES[model].replace(" (", "\n(") + "\n\n", fontsize=8.5, fontweight="bold", pad=8)
            if j == 0:
                ax.set_ylabel("\n".join(textwrap.wrap(f'"{prompt}"', 18)), fontsize=8)
    fig.suptitle("Same prompts, same seeds\n[trained miniatures (toy scale, shapes world)]", fontsize=9)
    fig.tight_layout()
    return fig
