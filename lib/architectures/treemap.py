"""Where the parameters of a transformer denoiser live: by block and layer type, from its module tree."""

from __future__ import annotations

import re
from collections import defaultdict

import torch

from lib.architectures import params, specs

LAYER_TYPES = ("attention", "MLP", "attention + MLP output", "modulation (adaLN)", "embedders", "output")
_BLOCK = re.compile(r"^(transformer_blocks|single_transformer_blocks)\.(\d+)\.")
_GROUP = {"transformer_blocks": "double-stream blocks", "single_transformer_blocks": "single-stream blocks"}


def layer_type(name: str) -> str:
    """Layer type of a diffusers SD3/FLUX parameter name."""
    if _BLOCK.match(name):
        if ".attn." in name:
            return "attention"
        if "norm1" in name or ".norm.linear" in name:
            return "modulation (adaLN)"  # the linear layer that makes shift/scale/gate from the timestep (DiT's adaLN-Zero)
        if name.split(".", 2)[2].startswith("proj_out"):
            return "attention + MLP output"  # FLUX single blocks: one projection of [attention, MLP] concatenated
        return "MLP"
    if name.startswith(("norm_out", "proj_out")):
        return "output"
    return "embedders"


def breakdown(module: torch.nn.Module, model_key: str = "") -> list[dict]:
    """Rows (group, block, layer type, parameters) for every parameter of a transformer denoiser."""
    double = "MMDiT blocks" if model_key == "sd3" else "double-stream blocks"
    acc: dict[tuple[str, str, str], int] = defaultdict(int)
    for name, p in module.named_parameters():
        m = _BLOCK.match(name)
        if m:
            group = double if m.group(1) == "transformer_blocks" else _GROUP[m.group(1)]
            block = f"{'block' if m.group(1) == 'transformer_blocks' else 'single'} {m.group(2)}"
        else:
            group = block = "embedders" if layer_type(name) == "embedders" else "output"
        acc[(group, block, layer_type(name))] += p.numel()
    return [{"group": g, "block": b, "type": t, "parameters": n} for (g, b, t), n in acc.items()]


def share_by_type(model_key: str) -> dict[str, float]:
    """Fraction of a transformer's parameters in each layer type."""
    rows = breakdown(params.denoiser(model_key), model_key)
    total = sum(r["parameters"] for r in rows)
    out: dict[str, float] = defaultdict(float)
    for r in rows:
        out[r["type"]] += r["parameters"] / total
    return dict(out)


def _tree(model_key: str) -> tuple[list, list, list, list]:
    """ids, labels, parents, values of a treemap: model -> group -> block -> layer type."""
    name = specs.MODELS[model_key].name
    rows = breakdown(params.denoiser(model_key), model_key)
    sums: dict[tuple, int] = defaultdict(int)
    for r in rows:
        sums[(name,)] += r["parameters"]
        sums[(name, r["group"])] += r["parameters"]
        if r["block"] != r["group"]:
            sums[(name, r["group"], r["block"])] += r["parameters"]
        sums[(name, r["group"], r["block"], r["type"]) if r["block"] != r["group"] else (name, r["group"], r["type"])] += r["parameters"]
    ids, labels, parents, values = [], [], [], []
    for path, v in sums.items():
        ids.append("/".join(path))
        labels.append(path[-1])
        parents.append("/".join(path[:-1]))
        values.append(v)
    return ids, labels, parents, values


def treemap_figure(model_keys: tuple[str, ...] = ("flux_schnell", "sd3")):
    """Side-by-side treemaps of the transformers' parameters (click a block to zoom in)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    width = 1 / len(model_keys)
    for i, key in enumerate(model_keys):
        ids, labels, parents, values = _tree(key)
        fig.add_trace(go.Treemap(
            ids=ids, labels=labels, parents=parents, values=values, branchvalues="total", maxdepth=3,
            domain=dict(x=[i * width + 0.005, (i + 1) * width - 0.005]),
            hovertemplate="%{label}<br>%{value:,} parameters<br>%{percentRoot:.1%} of the model<extra></extra>",
            texttemplate="%{label}<br>%{value:.3s}", root_color="white",
        ))
    fig.update_layout(height=560, margin=dict(l=5, r=5, t=45, b=5))  # t: room for the mode bar
    return fig


def type_table(model_keys: tuple[str, ...] = ("flux_schnell", "sd3")):
    """Parameters per layer type (millions) of each transformer, a pandas DataFrame."""
    import pandas as pd

    data = {}
    for key in model_keys:
        rows = breakdown(params.denoiser(key), key)
        col: dict[str, float] = defaultdict(float)
        for r in rows:
            col[r["type"]] += r["parameters"] / 1e6
        data[specs.MODELS[key].name] = {t: round(col.get(t, 0.0), 1) for t in LAYER_TYPES}
    return pd.DataFrame(data).rename_axis("layer type (millions of parameters)")
