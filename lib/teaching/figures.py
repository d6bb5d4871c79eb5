"""Figures of chapters 1 and 3: schedules, a noising slider, samples, quality-vs-NFE curves, trajectories."""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from lib.teaching import flow
from lib.teaching.data import to_images
from lib.teaching.schedules import SCHEDULES, NoiseSchedule

LABELS = {"linear": "linear (DDPM)", "squaredcos_cap_v2": "cosine (improved DDPM)",
          "scaled_linear": "scaled linear (SD 1.x)"}
COLORS = {"DDPM": "#1f77b4", "DDIM": "#ff7f0e", "RF": "#2ca02c", "2-RF": "#d62728",
          "linear": "#1f77b4", "squaredcos_cap_v2": "#ff7f0e", "scaled_linear": "#9467bd", "flow": "#2ca02c"}


def schedule_curves(kinds: tuple[str, ...] = SCHEDULES) -> go.Figure:
    """alpha_bar_t and log-SNR_t of each schedule against t: how fast each destroys the signal."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ᾱ_t (signal power kept)", "log SNR_t = log ᾱ/(1-ᾱ)"))
    for kind in kinds:
        s = NoiseSchedule(kind)
        t = np.arange(s.T)
        for col, y in ((1, s.alpha_bar.numpy()), (2, s.log_snr().numpy())):
            fig.add_scatter(x=t, y=y, name=LABELS[kind], legendgroup=kind, showlegend=col == 1,
                            line=dict(color=COLORS[kind]), row=1, col=col)
    fig.update_xaxes(title_text="step t")
    fig.update_layout(height=360, margin=dict(t=40, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.25))
    return fig


def _jpeg_uri(img: np.ndarray) -> str:
    """An (h, w, 3) image in [0, 1] as a JPEG data URI: noise compresses badly, JPEG keeps dozens of frames small."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def noising_slider(image: np.ndarray, steps: list[int], kinds: tuple[str, ...] = SCHEDULES, seed: int = 0) -> go.Figure:
    """One image noised by q(x_t | x0) under each schedule, with a slider over t (same noise everywhere)."""
    x0 = image * 2 - 1  # [0, 1] -> [-1, 1], the range diffusion models train on
    noise = np.random.default_rng(seed).standard_normal(x0.shape)
    frames_by_t = {}
    for t in steps:
        frames_by_t[t] = []
        for kind in kinds:
            ab = float(NoiseSchedule(kind).alpha_bar[t])
            xt = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise
            frames_by_t[t].append(_jpeg_uri((xt + 1) / 2))
    # titles on two lines: three side by side must fit a phone's width without running into each other
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=[LABELS[k].replace(" (", "<br>(") for k in kinds])
    for i, uri in enumerate(frames_by_t[steps[0]]):
        fig.add_trace(go.Image(source=uri, hoverinfo="skip"), row=1, col=i + 1)
    # Each slider position restyles the images in place: no animation frames, so nothing plays by itself
    # (plotly.io.to_html auto-plays a figure that has frames).
    fig.update_layout(
        height=345, margin=dict(t=55, b=10, l=10, r=10),
        sliders=[dict(currentvalue=dict(prefix="t = "), pad=dict(t=10), active=0,
                      steps=[dict(label=str(t), method="restyle",
                                  args=[{"source": uris}, list(range(len(kinds)))])
                             for t, uris in frames_by_t.items()])])
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def scatter_panels(panels: dict[str, np.ndarray], reference: np.ndarray, height: int = 330) -> go.Figure:
    """Side-by-side 2-D scatter plots of generated points (colour) over held-out data (grey)."""
    cols = 2 if len(panels) == 4 else len(panels)
    rows = (len(panels) + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(panels), horizontal_spacing=0.06,
                        vertical_spacing=0.08)
    for i, (name, pts) in enumerate(panels.items()):
        pts, r, c = np.asarray(pts), i // cols + 1, i % cols + 1
        fig.add_scatter(x=reference[:, 0], y=reference[:, 1], mode="markers", name="held-out data",
                        marker=dict(size=2, color="lightgrey"), showlegend=i == 0, row=r, col=c)
        fig.add_scatter(x=pts[:, 0], y=pts[:, 1], mode="markers", name=name, showlegend=False,
                        marker=dict(size=2, color=COLORS.get(name.split(",")[0], "#1f77b4")), row=r, col=c)
    fig.update_xaxes(range=[-2.5, 2.5])
    fig.update_yaxes(range=[-2.5, 2.5])
    height = height * rows
    fig.update_layout(height=height, margin=dict(t=60, b=10, l=10, r=10), legend=dict(orientation="h", y=-0.05))
    return fig


def eta_slider(samples: dict[float, np.ndarray], reference: np.ndarray) -> go.Figure:
    """DDIM samples of the 2-D toy for several eta, one slider position each (the reader drives it)."""
    etas = list(samples)
    fig = go.Figure([go.Scatter(x=reference[:, 0], y=reference[:, 1], mode="markers", name="held-out data",
                                marker=dict(size=3, color="lightgrey")),
                     go.Scatter(x=samples[etas[0]][:, 0], y=samples[etas[0]][:, 1], mode="markers",
                                name="DDIM samples", marker=dict(size=3, color=COLORS["DDIM"]))])
    fig.update_layout(
        height=480, margin=dict(t=40, b=10, l=10, r=10), xaxis=dict(range=[-3, 3]),
        yaxis=dict(range=[-3, 3]), legend=dict(orientation="h", y=-0.08),
        sliders=[dict(currentvalue=dict(prefix="η = "), pad=dict(t=50), active=0,
                      steps=[dict(label=f"{e:g}", method="restyle",
                                  args=[{"x": [s[:, 0]], "y": [s[:, 1]]}, [1]]) for e, s in samples.items()])])
    return fig


def digit_grid(rows: dict[str, torch.Tensor | np.ndarray], n_cols: int = 10,
               col_titles: list[str] | None = None, cell: float = 0.62) -> plt.Figure:
    """A labelled grid of 8x8 digits, one row per named set, `cell` inches per digit (large enough to read)."""
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(n_cols * cell + 1.6, len(rows) * cell + 0.35),
                             squeeze=False)
    for r, (name, x) in enumerate(rows.items()):
        imgs = to_images(np.asarray(x)[:n_cols])
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(imgs[c], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_titles:
                ax.set_title(col_titles[c], fontsize=9)
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.subplots_adjust(left=1.55 / (n_cols * cell + 1.6), right=0.99, top=1 - 0.3 / (len(rows) * cell + 0.35),
                        bottom=0.01, wspace=0.06, hspace=0.06)
    return fig


def resolution_and_shift(small: np.ndarray, large: np.ndarray, sigma: float, shift: float, steps: int,
                         seed: int = 0) -> plt.Figure:
    """Why SD3 shifts its timesteps (Esser et al. 2024, sec. 5.3.2), drawn on a photo at two sizes.

    Top: the same sigma on a small and a k-times larger image; the large one averaged over k x k blocks
    (what its coarse structure sees) is less noisy; at the shifted sigma' = shift(sigma, k) it is as noisy
    as the small one. Averages are rescaled so signal + noise coefficients sum to 1, as on the straight path.
    Bottom: the sigma of each sampling step without shift and with `shift` (diffusers' grid).
    """
    rng = np.random.default_rng(seed)
    h, big = small.shape[0], large.shape[0]
    k = big // h

    def noisy(img, s):  # straight path, pixels in [-1, 1]
        return (1 - s) * (img * 2 - 1) + s * rng.standard_normal(img.shape)

    def pooled(img, s):  # k x k averages, rescaled to (1 - s_eff) x0 + s_eff eps
        avg = noisy(img, s).reshape(h, k, h, k, -1).mean((1, 3))
        return avg / ((1 - s) + s / k)

    s_up = float(flow.shift_sigma(sigma, k))
    panels = {f"{h}×{h}, σ = {sigma:g}": noisy(small, sigma),
              f"{big}×{big}, σ = {sigma:g}": noisy(large, sigma),
              f"{big}×{big}, σ = {sigma:g},\naveraged to {h}×{h}": pooled(large, sigma),
              f"{big}×{big}, σ' = {s_up:.2f},\naveraged to {h}×{h}": pooled(large, s_up)}
    fig = plt.figure(figsize=(9, 5.6))
    grid = fig.add_gridspec(2, 4, height_ratios=[1, 0.9], hspace=0.45, wspace=0.08)
    for i, (title, img) in enumerate(panels.items()):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(np.clip((img + 1) / 2, 0, 1), interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    ax = fig.add_subplot(grid[1, :])
    for s, style in ((1.0, "o-"), (shift, "s-")):
        sig = flow.flow_sigmas(steps, s)[:-1]
        ax.plot(np.arange(1, steps + 1), sig, style, ms=3, label=f"shift s = {s:g}")
    ax.set_xlabel("sampling step")
    ax.set_ylabel("noise level σ")
    ax.legend(loc="lower left", fontsize=9)
    ax.grid(alpha=0.3)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.1)
    return fig


def quality_curves(df: pd.DataFrame, columns: dict[str, str], floors: dict[str, float] | None = None) -> go.Figure:
    """Quality against NFE (log axis), one panel per measure, one line per method; dotted line: real-data floor."""
    fig = make_subplots(rows=1, cols=len(columns), subplot_titles=list(columns.values()))
    for c, column in enumerate(columns, start=1):
        for method, part in df.groupby("method", sort=False):
            fig.add_scatter(x=part["NFE"], y=part[column], mode="lines+markers", name=method, legendgroup=method,
                            showlegend=c == 1, line=dict(color=COLORS.get(method)), row=1, col=c,
                            hovertemplate=f"{method}<br>NFE %{{x}}<br>{columns[column]} %{{y:.3f}}<extra></extra>")
        if floors and column in floors:
            fig.add_hline(y=floors[column], line=dict(dash="dot", color="grey"), row=1, col=c)
    # Log axes labelled at the measured NFEs and at powers of ten only: no "2 5 2 5" minor-label clutter.
    nfes = sorted(df["NFE"].unique())
    fig.update_xaxes(type="log", title_text="NFE (network calls)", tickvals=nfes, ticktext=[str(n) for n in nfes])
    fig.update_yaxes(type="log", dtick=1, minor=dict(ticks="outside", showgrid=True), col=1)
    # 60 px on top: the panel titles stay clear of plotly's mode bar.
    fig.update_layout(height=400, margin=dict(t=60, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.3))
    return fig


def trajectory_panels(paths: dict[str, torch.Tensor], reference: np.ndarray, n_show: int = 60) -> go.Figure:
    """Paths (K+1, n, 2) from noise (open circle) to sample (dot), one panel per method, two panels a row."""
    cols = min(2, len(paths))
    n_rows = (len(paths) + cols - 1) // cols
    fig = make_subplots(rows=n_rows, cols=cols, subplot_titles=list(paths), horizontal_spacing=0.06,
                        vertical_spacing=0.08)
    for i, (name, path) in enumerate(paths.items()):
        r, c = i // cols + 1, i % cols + 1
        p = np.asarray(path)[:, :n_show]
        fig.add_scatter(x=reference[:, 0], y=reference[:, 1], mode="markers", marker=dict(size=2, color="lightgrey"),
                        name="data", showlegend=False, hoverinfo="skip", row=r, col=c)
        xs = np.concatenate([np.append(p[:, j, 0], np.nan) for j in range(p.shape[1])])
        ys = np.concatenate([np.append(p[:, j, 1], np.nan) for j in range(p.shape[1])])
        fig.add_scatter(x=xs, y=ys, mode="lines", line=dict(width=1, color=COLORS.get(name.split(" ")[0])),
                        name=name, showlegend=False, hoverinfo="skip", row=r, col=c)
        fig.add_scatter(x=p[0, :, 0], y=p[0, :, 1], mode="markers", marker=dict(size=5, symbol="circle-open",
                        color="black"), name="start (noise)", showlegend=i == 0, row=r, col=c)
        fig.add_scatter(x=p[-1, :, 0], y=p[-1, :, 1], mode="markers", marker=dict(size=5, color="black"),
                        name="end (sample)", showlegend=i == 0, row=r, col=c)
    fig.update_xaxes(range=[-3.2, 3.2])
    fig.update_yaxes(range=[-3.2, 3.2])
    fig.update_layout(height=330 * n_rows, margin=dict(t=60, b=10, l=10, r=10),
                      legend=dict(orientation="h", y=-0.05))  # 60 px: titles clear of the mode bar
    return fig


def interpolation_curves(kinds: tuple[str, ...] = ("linear", "squaredcos_cap_v2")) -> go.Figure:
    """Signal and noise coefficients (a_t, b_t) of x_t = a_t x0 + b_t eps: diffusion schedules versus the straight path."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("a_t (data coefficient) and b_t (noise coefficient)",
                                                        "log SNR = 2 log(a_t / b_t)"))
    u = np.linspace(0, 1, 1000, endpoint=False) + 0.0005
    curves = {"flow": ("rectified flow (1-t, t)", 1 - u, u)}
    for kind in kinds:
        ab = NoiseSchedule(kind).alpha_bar.numpy()
        curves[kind] = (LABELS[kind], np.sqrt(ab), np.sqrt(1 - ab))
    for key, (label, a, b) in curves.items():
        color = COLORS[key]
        fig.add_scatter(x=u, y=a, name=label, legendgroup=key, line=dict(color=color), row=1, col=1)
        fig.add_scatter(x=u, y=b, name=label, legendgroup=key, showlegend=False, line=dict(color=color, dash="dash"),
                        row=1, col=1)
        fig.add_scatter(x=u, y=2 * np.log(a / b), name=label, legendgroup=key, showlegend=False,
                        line=dict(color=color), row=1, col=2)
    fig.update_xaxes(title_text="time t / T")
    fig.update_layout(height=360, margin=dict(t=40, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.25))
    return fig


def shift_and_timestep_density(shifts: tuple[float, ...] = (1.0, 3.0, 6.0)) -> go.Figure:
    """Left: SD3's sigma shift. Right: the density of SD3's logit-normal training times against uniform."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("σ' = s·σ / (1 + (s-1)·σ)", "density of training t"))
    sigma = np.linspace(0, 1, 201)
    for s in shifts:
        fig.add_scatter(x=sigma, y=flow.shift_sigma(sigma, s), name=f"shift s = {s:g}", row=1, col=1)
    t = np.linspace(0.001, 0.999, 400)
    logit = np.log(t / (1 - t))
    density = np.exp(-logit**2 / 2) / np.sqrt(2 * np.pi) / (t * (1 - t))  # logit-normal(0, 1), Esser et al. eq. 19
    fig.add_scatter(x=t, y=density, name="logit-normal(0, 1)", row=1, col=2)
    fig.add_scatter(x=t, y=np.ones_like(t), name="uniform", line=dict(dash="dot"), row=1, col=2)
    fig.update_xaxes(title_text="σ (uniform grid)", row=1, col=1)
    fig.update_xaxes(title_text="t", row=1, col=2)
    fig.update_layout(height=340, margin=dict(t=40, b=40, l=50, r=10), legend=dict(orientation="h", y=-0.3))
    return fig
