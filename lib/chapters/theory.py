"""Facts chapters 4 and 5 compute rather than measure: the shifted flow-matching schedule, forward passes per
image and what each text encoder weighs (GGUF block layouts: `lib.chapters.blocks`)."""

from __future__ import annotations

from lib.config import PRESETS
from lib.mac_memory import parameters

GB = 1e9
_SD3 = PRESETS["sd3-medium"]
SD3_MEDIUM_SHIFT = _SD3.scheduler_shift  # the registry's, from its scheduler/scheduler_config.json


def shifted_sigmas(steps: int, shift: float) -> list[float]:
    """The sigmas diffusers' FlowMatchEulerDiscreteScheduler walks for `steps` steps at a given shift.

    SD3 shifts the timesteps towards noise, t' = s t / (1 + (s - 1) t) (Esser et al. 2024, sec. 5.3.2),
    because at high resolution a given noise level destroys less of the image. Chapter 3's `flow_sigmas`
    computes them (its tests check it against the diffusers scheduler).
    """
    from lib.teaching.flow import flow_sigmas

    return [float(s) for s in flow_sigmas(steps, shift)[:-1]]  # the final 0 is where sampling ends, not a step


def shift_figure(steps: int = _SD3.steps, shifts: tuple[float, ...] = (1.0, SD3_MEDIUM_SHIFT)):
    """Noise level at each step for several shifts, SD3 Medium's steps by default (plotly: hover for the values)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for s in shifts:
        sig = shifted_sigmas(steps, s)
        fig.add_trace(go.Scatter(x=list(range(1, steps + 1)), y=sig, mode="lines+markers", name=f"shift {s:g}",
                                 hovertemplate="step %{x}: σ = %{y:.3f}<extra>shift " + f"{s:g}" + "</extra>"))
    fig.update_layout(xaxis_title="step", yaxis_title="noise level σ (1 = pure noise)", height=380,
                      template="plotly_white", margin=dict(l=50, r=20, t=40, b=50),
                      legend=dict(orientation="h", x=0, y=-0.25, yanchor="top"))
    return fig


def forward_passes(model: str, steps: int | None = None, guidance: float | None = None) -> int:
    """Transformer evaluations per image: steps x 2 with classifier-free guidance, steps x 1 when distilled."""
    spec = PRESETS[model]
    steps = steps or spec.steps
    guidance = spec.guidance if guidance is None else guidance
    cfg = not spec.guidance_distilled and guidance > 1  # SD3 (diffusers) applies CFG only when guidance > 1
    return steps * (2 if cfg else 1)


def text_encoders_gb(dtype_bytes: int = 2) -> dict[str, float]:
    """GB of SD3's three text encoders in fp16/bf16, from their parameter counts."""
    names = {"CLIP-L": "clip_l", "CLIP-G": "clip_g", "T5-XXL": "t5_xxl"}
    return {label: parameters()[key] * dtype_bytes / GB for label, key in names.items()}
