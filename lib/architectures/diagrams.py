"""Block diagrams of the denoisers (matplotlib), labelled with widths read from the published configs."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from lib.architectures import specs

COLORS = {"img": "#4C72B0", "txt": "#55A868", "attn": "#C44E52", "mlp": "#8172B2", "mod": "#CCB974",
          "conv": "#64B5CD", "io": "#8C8C8C"}


def _box(ax, x, y, w, h, text, color, fontsize=8):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.06",
                                facecolor=color, edgecolor="black", linewidth=0.8, alpha=0.9))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color="white", fontweight="bold")


def _arrow(ax, x0, y0, x1, y1, style="-|>", color="black", ls="-"):
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                arrowprops=dict(arrowstyle=style, color=color, lw=1.2, linestyle=ls, shrinkA=2, shrinkB=2))


def _column(ax, x, items, y_top, step=1.0, w=1.9, h=0.62):
    """Boxes stacked top to bottom at x, joined by arrows; returns their y positions."""
    ys = [y_top - i * step for i in range(len(items))]
    for (text, color), y in zip(items, ys):
        _box(ax, x, y, w, h, text, color)
    for y0, y1 in zip(ys, ys[1:]):
        _arrow(ax, x, y0 - h / 2, x, y1 + h / 2)
    return ys


def _frame(ax, title, xlim, ylim):
    ax.set_xlim(*xlim), ax.set_ylim(*ylim), ax.axis("off")
    ax.set_title(title, fontsize=10, fontweight="bold")


def unet_mid_block_type(config: dict) -> str:
    """The U-Net's mid block class: the config's `mid_block_type`, else diffusers' default for the class
    (`UNetMidBlock2DCrossAttn`: ResNet, transformer with self- and cross-attention, ResNet)."""
    if "mid_block_type" in config:
        return config["mid_block_type"]
    import inspect

    from diffusers import UNet2DConditionModel

    return inspect.signature(UNet2DConditionModel.__init__).parameters["mid_block_type"].default


def unet_figure(config: dict | None = None):
    """The SD 1.5 U-Net: resolution levels with channel widths from its config, skips, cross-attention to text."""
    config = config or specs.SD15_UNET
    boc, side = config["block_out_channels"], config["sample_size"]
    fig, ax = plt.subplots(figsize=(9, 4.6))
    n = len(boc)
    for i, c in enumerate(boc):
        y = 3.2 - i * 0.95
        s = side // 2**i
        attn = config["down_block_types"][i].startswith("CrossAttn")
        label = f"{s}x{s}, {c} ch\nResNet" + (" + attn" if attn else "")
        _box(ax, 1.6 + i * 0.55, y, 2.0, 0.7, label, COLORS["conv"] if not attn else COLORS["img"])
        up_attn = config["up_block_types"][n - 1 - i].startswith("CrossAttn")
        _box(ax, 8.4 - i * 0.55, y, 2.0, 0.7, f"{s}x{s}, {c} ch\nResNet" + (" + attn" if up_attn else ""),
             COLORS["conv"] if not up_attn else COLORS["img"])
        for x, has in ((1.6 + i * 0.55, attn), (8.4 - i * 0.55, up_attn)):
            if has:  # every attention level reads the same text
                _arrow(ax, 5.0, 4.3, x, y + 0.35, color=COLORS["txt"], ls=":")
        _arrow(ax, 2.6 + i * 0.55, y, 7.4 - i * 0.55, y, color="#DD8452", ls="--")
        if i < n - 1:
            _arrow(ax, 1.6 + i * 0.55, y - 0.35, 1.6 + (i + 1) * 0.55, y - 0.6)
            _arrow(ax, 8.4 - (i + 1) * 0.55, y - 0.6, 8.4 - i * 0.55, y - 0.35)
    s = side // 2 ** (n - 1)
    mid_attn = "CrossAttn" in unet_mid_block_type(config)
    mid_label = f"mid: {s}x{s}, {boc[-1]} ch\n" + ("ResNet + attn + ResNet" if mid_attn else "ResNets, no text")
    _box(ax, 5.0, 3.2 - n * 0.95, 2.2, 0.7, mid_label, COLORS["img"] if mid_attn else COLORS["conv"])
    if mid_attn:  # the mid block reads the text too
        _arrow(ax, 5.0, 4.3, 5.0, 3.2 - n * 0.95 + 0.35, color=COLORS["txt"], ls=":")
    _arrow(ax, 1.6 + (n - 1) * 0.55, 3.2 - (n - 1) * 0.95 - 0.35, 3.9, 3.2 - n * 0.95)
    _arrow(ax, 6.1, 3.2 - n * 0.95, 8.4 - (n - 1) * 0.55, 3.2 - (n - 1) * 0.95 - 0.35)
    _box(ax, 5.0, 4.55, 2.4, 0.5, f"text: 77 tokens x {config['cross_attention_dim']}", COLORS["txt"])
    ax.text(5.0, 5.0, "cross-attention (dotted): image queries, text keys/values; skip connections dashed",
            ha="center", fontsize=8, color="black")
    ax.text(0.6, 3.75, "noisy latent in", fontsize=8), ax.text(8.2, 3.75, "noise prediction out", fontsize=8)
    _frame(ax, "U-Net denoiser (SD 1.5 configuration)", (0, 10), (-1.1, 5.3))
    return fig


def transformer_blocks_figure():
    """Side by side: a DiT block (adaLN-Zero, image only) and an SD3 MMDiT block (two streams, joint attention)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 5.2))
    d3 = specs.SD3_TRANSFORMER["num_attention_heads"] * specs.SD3_TRANSFORMER["attention_head_dim"]
    _column(a, 1.5, [("image tokens", COLORS["img"]), ("LayerNorm, scale/shift", COLORS["mod"]), ("self-attention", COLORS["attn"]),
                     ("gate + residual", COLORS["mod"]), ("LayerNorm, scale/shift", COLORS["mod"]), ("MLP", COLORS["mlp"]), ("gate + residual", COLORS["mod"])], 6.2)
    _box(a, 4.0, 5.2, 1.8, 0.62, "timestep, class", COLORS["io"])
    _box(a, 4.0, 4.1, 1.8, 0.62, "adaLN: 6 vectors", COLORS["mod"])
    _arrow(a, 4.0, 4.89, 4.0, 4.41)
    for y in (5.2, 3.2, 2.2, 0.2):
        _arrow(a, 3.1, 4.1, 2.45, y, color=COLORS["mod"], ls=":")
    _frame(a, "DiT block (Peebles & Xie)", (0, 5.2), (-0.5, 6.7))
    for x, name, c in ((1.3, "image", COLORS["img"]), (4.7, "text", COLORS["txt"])):
        _column(b, x, [(f"{name} tokens", c), ("adaLN scale/shift", COLORS["mod"]), (f"{name} q, k, v", c)], 6.2, w=1.7)
        _column(b, x, [(f"{name} out-proj", c), ("adaLN gate, residual", COLORS["mod"]), (f"{name} MLP", COLORS["mlp"])], 2.4, w=1.7)
        _arrow(b, x, 4.2 - 0.31, 3.0 + (x - 3.0) * 0.35, 3.6)
        _arrow(b, 3.0 + (x - 3.0) * 0.35, 2.95, x, 2.4 + 0.31)
    _box(b, 3.0, 3.3, 2.4, 0.6, "joint attention\nover image + text", COLORS["attn"])
    b.text(3.0, -0.3, f"two weight sets, one attention; width {d3} (SD3 Medium)", ha="center", fontsize=8)
    _frame(b, "MMDiT block (SD3)", (0, 6), (-0.6, 6.7))
    fig.tight_layout()
    return fig


def flux_blocks_figure():
    """FLUX's double-stream block (MMDiT with RoPE and QK-norm) and its single-stream block (parallel attention + MLP)."""
    cfg = specs.FLUX_SCHNELL_TRANSFORMER
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 5.2))
    for x, name, c in ((1.3, "image", COLORS["img"]), (4.7, "text", COLORS["txt"])):
        _column(a, x, [(f"{name} tokens", c), ("adaLN scale/shift", COLORS["mod"]), (f"{name} qkv, QK-norm", c)], 6.2, w=1.7)
        _column(a, x, [(f"{name} out-proj", c), ("gate, residual", COLORS["mod"]), (f"{name} MLP (4x)", COLORS["mlp"])], 2.4, w=1.7)
        _arrow(a, x, 4.2 - 0.31, 3.0 + (x - 3.0) * 0.35, 3.6)
        _arrow(a, 3.0 + (x - 3.0) * 0.35, 2.95, x, 2.4 + 0.31)
    _box(a, 3.0, 3.3, 2.4, 0.6, "joint attention\n+ RoPE positions", COLORS["attn"])
    a.text(3.0, -0.3, f"x {cfg['num_layers']} blocks, width {d}", ha="center", fontsize=8)
    _frame(a, "FLUX double-stream block", (0, 6), (-0.6, 6.7))
    _column(b, 3.0, [("[text ; image] tokens", COLORS["io"]), ("adaLN scale/shift", COLORS["mod"]), ("one linear: qkv and MLP-in", COLORS["img"])], 6.2, w=2.6)
    _box(b, 1.8, 3.2, 2.0, 0.62, "attention + RoPE", COLORS["attn"])
    _box(b, 4.2, 3.2, 2.0, 0.62, "MLP activation", COLORS["mlp"])
    for x in (1.8, 4.2):
        _arrow(b, 3.0, 4.2 - 0.31, x, 3.2 + 0.31)
        _arrow(b, x, 3.2 - 0.31, 3.0, 2.0 + 0.31)
    _column(b, 3.0, [("concat, one linear out", COLORS["img"]), ("gate, residual", COLORS["mod"])], 2.0, w=2.6)
    b.text(3.0, -0.3, f"x {cfg['num_single_layers']} blocks, width {d}; text and image share all weights", ha="center", fontsize=8)
    _frame(b, "FLUX single-stream block", (0, 6), (-0.6, 6.7))
    fig.tight_layout()
    return fig
