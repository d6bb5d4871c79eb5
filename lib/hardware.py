"""What each part of the book needs to run: weight sizes of the models' components and the machines readers have.

Sizes come from two places, each named: parameter counts computed from the architectures (the real
diffusers/transformers classes built on the meta device by `lib.architectures`, as chapter 2 explains)
times bytes per weight, and download sizes published with the weight files. Nothing here is a
measurement of a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from lib.registry import PRESETS, published_gguf_gb

GB = 1e9


@cache
def parameters() -> dict[str, int]:
    """Parameter counts of the real components, computed from their published configurations (meta device)."""
    from lib.architectures import params

    sd3 = params.model_params(PRESETS["sd3-medium"].architecture)
    flux = params.model_params(PRESETS["flux-schnell"].architecture)
    return {"sd3_transformer": sd3["MMDiT"], "flux_schnell_transformer": flux["FLUX transformer"],
            "vae_16ch": sd3["VAE (16 ch)"], "clip_l": sd3["CLIP-L"], "clip_g": sd3["CLIP-G"], "t5_xxl": sd3["T5-XXL"]}

# File type -> published size (GB) of the FLUX.1-schnell GGUF files whose size the registry records.
FLUX_GGUF_PUBLISHED_GB = published_gguf_gb("flux-schnell")


@dataclass(frozen=True)
class Setup:
    """One way to run a model: its text-encoding stage and its denoise+decode stage, in bytes."""

    name: str
    text_stage: float
    image_stage: float

    @property
    def all_loaded(self) -> float:
        """Every component resident at once (the plain pipeline)."""
        return self.text_stage + self.image_stage

    @property
    def staged(self) -> float:
        """Peak when the text encoders are freed before denoising."""
        return max(self.text_stage, self.image_stage)


def _bytes16(*names: str) -> float:
    counts = parameters()
    return sum(counts[n] for n in names) * 2  # fp16/bf16: 2 bytes per weight


def model_setups() -> list[Setup]:
    """The setups chapters 4-6 run, with weight bytes per stage (fp16/bf16 unless quantized)."""
    flux_q = PRESETS["flux-schnell"].default_quantization  # the GGUF file the book runs by default
    flux_gguf = FLUX_GGUF_PUBLISHED_GB[flux_q] * GB
    return [
        Setup("SD3 Medium, fp16, with T5", _bytes16("clip_l", "clip_g", "t5_xxl"), _bytes16("sd3_transformer", "vae_16ch")),
        Setup("SD3 Medium, fp16, T5 dropped", _bytes16("clip_l", "clip_g"), _bytes16("sd3_transformer", "vae_16ch")),
        Setup("FLUX.1-schnell, bf16", _bytes16("clip_l", "t5_xxl"), _bytes16("flux_schnell_transformer", "vae_16ch")),
        Setup(f"FLUX.1-schnell, GGUF {flux_q}", _bytes16("clip_l", "t5_xxl"), flux_gguf + _bytes16("vae_16ch")),
    ]


# On a 16 GB Mac, Metal lets the GPU use about 11.8 GB (public measurements of recommendedMaxWorkingSetSize).
METAL_LIMIT_16GB = 11.8


def setups_table():
    """Weights resident per setup, all loaded versus staged, in GB (a pandas DataFrame)."""
    import pandas as pd

    rows = [
        {
            "setup": s.name,
            "text encoders (GB)": round(s.text_stage / GB, 2),
            "transformer + VAE (GB)": round(s.image_stage / GB, 2),
            "all loaded (GB)": round(s.all_loaded / GB, 2),
            "staged peak (GB)": round(s.staged / GB, 2),
        }
        for s in model_setups()
    ]
    return pd.DataFrame(rows).set_index("setup")


def setups_figure():
    """Grouped bars: weight memory all-loaded vs staged, against a 16 GB Mac and its Metal limit."""
    import plotly.graph_objects as go

    setups = model_setups()
    names = [s.name for s in setups]
    fig = go.Figure()
    for label, values in (("all components loaded", [s.all_loaded for s in setups]), ("staged: text encoders freed first", [s.staged for s in setups])):
        fig.add_bar(name=label, x=names, y=[v / GB for v in values], hovertemplate="%{x}<br>%{y:.2f} GB<extra>" + label + "</extra>")
    fig.add_hline(y=16, line_dash="dot", annotation_text="16 GB Mac: all memory", annotation_position="top left")
    fig.add_hline(y=METAL_LIMIT_16GB, line_dash="dash", annotation_text="16 GB Mac: Metal's GPU limit", annotation_position="bottom left")
    fig.update_layout(
        barmode="group", yaxis_title="weights resident (GB)", height=420, template="plotly_white",
        legend=dict(orientation="h", y=1.12), margin=dict(l=60, r=20, t=40, b=120),
    )
    return fig
