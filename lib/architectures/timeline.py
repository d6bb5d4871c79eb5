"""From DDPM (2020) to FLUX.1 (2024): dated milestones, each with its source, and a plotly timeline."""

from __future__ import annotations

# (date of first public release, name, what changed, track, source: arXiv id or release page)
MILESTONES = [
    ("2020-06-19", "DDPM", "denoising diffusion works for images", "method", "arXiv:2006.11239"),
    ("2020-10-06", "DDIM", "deterministic sampling, fewer steps", "method", "arXiv:2010.02502"),
    ("2020-11-26", "Score SDE", "diffusion as a stochastic differential equation", "method", "arXiv:2011.13456"),
    ("2021-12-20", "Latent diffusion", "denoise in a VAE's latent space; cross-attention to text", "architecture", "arXiv:2112.10752"),
    ("2022-07-26", "Classifier-free guidance", "guidance without a classifier (two passes per step)", "method", "arXiv:2207.12598"),
    ("2022-08-22", "Stable Diffusion 1.x", "860M U-Net, CLIP-L, open weights", "model", "CompVis/stable-diffusion release"),
    ("2022-09-07", "Rectified flow", "straight paths from noise to data", "method", "arXiv:2209.03003"),
    ("2022-10-06", "Flow matching", "regress a velocity field", "method", "arXiv:2210.02747"),
    ("2022-11-24", "Stable Diffusion 2.x", "OpenCLIP-H, v-prediction", "model", "stabilityai/stable-diffusion-2 release"),
    ("2022-12-19", "DiT", "a transformer denoiser with adaLN-Zero", "architecture", "arXiv:2212.09748"),
    ("2023-07-04", "SDXL", "3x larger U-Net, two text encoders", "model", "arXiv:2307.01952"),
    ("2024-03-05", "SD3 paper (MMDiT)", "joint attention over text and image; rectified flow", "architecture", "arXiv:2403.03206"),
    ("2024-06-12", "SD3 Medium", "2B MMDiT, three text encoders, open weights", "model", "stabilityai/stable-diffusion-3-medium release"),
    ("2024-08-01", "FLUX.1", "12B double+single-stream transformer; schnell: 4 steps", "model", "black-forest-labs announcement"),
]
TRACKS = {"method": 0, "architecture": 1, "model": 2}


def timeline_figure():
    """Scatter timeline: one row per track (method, architecture, released model); hover for what changed."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for track, row in TRACKS.items():
        items = [m for m in MILESTONES if m[3] == track]
        fig.add_trace(go.Scatter(
            # stagger neighbours vertically so that labels of close dates do not overlap
            x=[m[0] for m in items], y=[row + (0.0, 0.3, -0.3)[i % 3] for i in range(len(items))], mode="markers+text",
            name=track, text=[m[1] for m in items], textposition="middle right",
            customdata=[[m[2], m[4]] for m in items], marker=dict(size=12),
            hovertemplate="<b>%{text}</b> (%{x|%b %Y})<br>%{customdata[0]}<br>source: %{customdata[1]}<extra></extra>",
        ))
    fig.update_yaxes(tickvals=list(TRACKS.values()), ticktext=list(TRACKS), range=[-0.6, 2.6], showgrid=False)
    fig.update_xaxes(range=["2020-03-01", "2025-06-30"])
    fig.update_layout(height=420, template="plotly_white", showlegend=False, margin=dict(l=90, r=20, t=45, b=40))
    return fig
