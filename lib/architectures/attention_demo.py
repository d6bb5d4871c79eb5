"""Cross-attention (U-Net) versus joint attention (MMDiT), shown on tiny real diffusers blocks.

Two stacks of two blocks each, random weights (a miniature, not a trained model), fixed seed:
`BasicTransformerBlock` with `cross_attention_dim` (the block inside every SD 1.x/2.x/XL U-Net level) and
`JointTransformerBlock` (the SD3 MMDiT block, {cite}`esser2024sd3`). We record each attention's
probabilities softmax(QK^T / sqrt(d)) and measure what the text looks like when it reaches the second
block, for two different images.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.attention import BasicTransformerBlock, JointTransformerBlock

N_IMAGE, N_TEXT = 16, 8  # a 4x4 grid of image tokens, 8 text tokens
DIM, HEADS, TEXT_DIM = 32, 2, 24
SEED = 0


@contextlib.contextmanager
def recording_attention(store: list):
    """Within this block, every F.scaled_dot_product_attention also appends its probabilities (mean over heads)."""
    real = F.scaled_dot_product_attention

    def sdpa(query, key, value, *args, **kwargs):
        probs = torch.softmax(query @ key.transpose(-2, -1) / query.shape[-1] ** 0.5, dim=-1)
        store.append(probs.mean(dim=1)[0].detach())  # (queries, keys) of the first batch item
        return real(query, key, value, *args, **kwargs)

    F.scaled_dot_product_attention = sdpa  # diffusers' processors look it up at call time
    try:
        yield store
    finally:
        F.scaled_dot_product_attention = real


def cross_stack() -> torch.nn.ModuleList:
    """Two U-Net transformer blocks (self-attention, cross-attention to text, GEGLU MLP), random weights."""
    torch.manual_seed(SEED)
    return torch.nn.ModuleList(
        BasicTransformerBlock(DIM, HEADS, DIM // HEADS, cross_attention_dim=TEXT_DIM) for _ in range(2)
    ).eval()


def joint_stack() -> torch.nn.ModuleList:
    """Two MMDiT blocks (separate weights per stream, one attention over both), random weights."""
    torch.manual_seed(SEED)
    return torch.nn.ModuleList(JointTransformerBlock(DIM, HEADS, DIM // HEADS) for _ in range(2)).eval()


def inputs(image_seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image tokens from `image_seed`; the text tokens and timestep embedding are the same for every image."""
    g = torch.Generator().manual_seed(100)
    text_cross, text_joint, temb = torch.randn(1, N_TEXT, TEXT_DIM, generator=g), torch.randn(1, N_TEXT, DIM, generator=g), torch.randn(1, DIM, generator=g)
    image = torch.randn(1, N_IMAGE, DIM, generator=torch.Generator().manual_seed(image_seed))
    return image, (text_cross, text_joint), temb


@dataclass
class Run:
    """What one stack did with one image: attention maps of its first block and the text reaching block 2."""

    maps: list[torch.Tensor]
    text_into_block2: torch.Tensor


def run_cross(image_seed: int) -> Run:
    """Run the cross-attention stack; the text entering block 2 is captured at its cross-attention."""
    blocks = cross_stack()
    image, (text, _), _ = inputs(image_seed)
    seen: dict = {}

    def capture(module, args, kwargs):
        seen["text"] = kwargs["encoder_hidden_states"].clone()

    blocks[1].attn2.register_forward_pre_hook(capture, with_kwargs=True)
    maps: list = []
    with torch.no_grad():
        with recording_attention(maps):
            h = blocks[0](image, encoder_hidden_states=text)
        blocks[1](h, encoder_hidden_states=text)  # a U-Net hands every block the same text
    return Run(maps, seen["text"])


def run_joint(image_seed: int) -> Run:
    """Run the MMDiT stack; each block returns updated text, which is what block 2 receives."""
    blocks = joint_stack()
    image, (_, text), temb = inputs(image_seed)
    maps: list = []
    with torch.no_grad():
        with recording_attention(maps):
            text1, h = blocks[0](image, encoder_hidden_states=text, temb=temb)
    return Run(maps, text1)


def text_change(run_fn, seed_a: int = 1, seed_b: int = 2) -> float:
    """Relative change ||t_a - t_b|| / ||t_a|| of the text reaching block 2 when only the image differs."""
    a, b = run_fn(seed_a).text_into_block2, run_fn(seed_b).text_into_block2
    return float((a - b).norm() / a.norm())


def attention_figure():
    """Two heatmaps over [image | text] tokens: cross-attention fills one quadrant, joint attention all four."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    n = N_IMAGE + N_TEXT
    cross = np.full((n, n), np.nan)
    cross[:N_IMAGE, N_IMAGE:] = run_cross(1).maps[1].numpy()  # maps[0] is self-attention, [1] cross-attention
    joint = run_joint(1).maps[0].numpy()
    labels = [f"img {i}" for i in range(N_IMAGE)] + [f"txt {j}" for j in range(N_TEXT)]
    fig = make_subplots(1, 2, subplot_titles=("U-Net: cross-attn", "MMDiT: joint attn"), horizontal_spacing=0.12)
    for col, z in ((1, cross), (2, joint)):
        fig.add_trace(go.Heatmap(z=z, x=labels, y=labels, coloraxis="coloraxis",
                                 hovertemplate="query %{y}<br>key %{x}<br>p = %{z:.3f}<extra></extra>"), 1, col)
        for pos in (N_IMAGE - 0.5,):
            fig.add_shape(type="line", x0=pos, x1=pos, y0=-0.5, y1=n - 0.5, line=dict(color="white", width=2), row=1, col=col)
            fig.add_shape(type="line", y0=pos, y1=pos, x0=-0.5, x1=n - 0.5, line=dict(color="white", width=2), row=1, col=col)
    fig.update_yaxes(autorange="reversed", title_text="query token", col=1)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="key token", tickangle=-90)
    fig.update_layout(coloraxis=dict(colorscale="Viridis", colorbar=dict(title="p")), height=470,
                      template="plotly_white", margin=dict(l=60, r=20, t=80, b=80),
                      annotations=[*fig.layout.annotations])
    return fig
