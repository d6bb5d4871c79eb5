"""The intro page's picture: how the forward process turns data into noise, computed exactly in 1-D.

For a Gaussian-mixture p(x0) the DDPM forward marginal q(x_t) = ∫ N(x_t; √ᾱ_t x0, (1-ᾱ_t)) p(x0) dx0
is again a mixture (Ho et al. 2020, eq. 4), so the density at every t is exact, with no sampling.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from lib.teaching.schedules import T_DEFAULT as DDPM_T
from lib.teaching.schedules import make_betas

# A two-mode 1-D "data set": weights, means, standard deviations.
MIXTURE = (np.array([0.35, 0.65]), np.array([-2.0, 1.5]), np.array([0.35, 0.5]))


def ddpm_alpha_bar(T: int = DDPM_T) -> np.ndarray:
    """ᾱ_t = Π_{s≤t} (1 - β_s) for DDPM's linear schedule (chapter 1's `make_betas`), t = 1..T."""
    return np.cumprod(1.0 - make_betas("linear", T))


def forward_density(x: np.ndarray, alpha_bar: float, mixture=MIXTURE) -> np.ndarray:
    """Exact q(x_t) of the 1-D mixture after noising to level ᾱ (eq. 4 of Ho et al. 2020)."""
    w, mu, sd = mixture
    mean = np.sqrt(alpha_bar) * mu
    var = alpha_bar * sd**2 + (1.0 - alpha_bar)
    comp = np.exp(-((x[:, None] - mean) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)
    return comp @ w


def forward_heatmap(steps: int = 101, grid: int = 241) -> go.Figure:
    """Heatmap of q(x_t) over t: the data density dissolving into N(0, 1)."""
    alpha_bar = ddpm_alpha_bar()
    ts = np.linspace(0, DDPM_T, steps).round().astype(int)
    x = np.linspace(-4.5, 4.5, grid)
    dens = np.stack([forward_density(x, 1.0 if t == 0 else alpha_bar[t - 1]) for t in ts], axis=1)
    fig = go.Figure(
        go.Heatmap(
            x=ts, y=x, z=dens, colorscale="Viridis", colorbar=dict(title="density"),
            hovertemplate="t=%{x}<br>x=%{y:.2f}<br>q(x_t)=%{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="diffusion step t", yaxis_title="x_t", height=380, margin=dict(l=60, r=20, t=30, b=50),
        template="plotly_white",
    )
    return fig
