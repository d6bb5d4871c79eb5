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
    """One way to run a model: the weights of its text-encoding, denoising and decoding stages, in bytes."""

    name: str
    text_stage: float
    transformer: float
    vae: float

    @property
    def all_loaded(self) -> float:
        """Every component resident at once (the plain pipeline)."""
        return self.text_stage + self.transformer + self.vae

    @property
    def staged(self) -> float:
        """Peak when each stage's models are freed before the next stage loads."""
        return max(self.text_stage, self.transformer, self.vae)


def model_setups() -> list[Setup]:
    """The setups chapters 4-6 run, with weight bytes per stage as `lib.plan` counts them before a load (SD3 in
    fp16 keeps T5's `wo` layers in fp32; FLUX in bf16; a GGUF transformer at its file size)."""
    from lib.config import DiffusionConfig
    from lib.plan import stage_bytes

    flux_q = PRESETS["flux-schnell"].default_quantization  # the GGUF file the book runs by default
    runs = [("SD3 Medium, fp16, with T5", "sd3-medium", "float16", {}),
            ("SD3 Medium, fp16, T5 dropped", "sd3-medium", "float16", {"drop_t5": True}),
            ("FLUX.1-schnell, bf16", "flux-schnell", "bfloat16", {"quantization": "none"}),
            (f"FLUX.1-schnell, GGUF {flux_q}", "flux-schnell", "bfloat16", {})]
    return [Setup(name, *stage_bytes(DiffusionConfig(model, "a plan", dtype=dtype, **kw), dtype))
            for name, model, dtype, kw in runs]


# How much of a Mac's unified memory Metal recommends a process keep resident on the GPU: Apple exposes it per
# machine as MTLDevice.recommendedMaxWorkingSetSize (torch.mps.recommended_max_memory(), which lib.plan reads at
# run time) but publishes no table; reports put it at about 65-75 % of RAM (sglang issue 21443, citing Apple's
# documentation). The book judges a 16 GB Mac by the lower end, the cautious reading.
METAL_WORKING_SET_FRACTION = (0.65, 0.75)
REFERENCE_MAC_GB = 16
METAL_LIMIT_16GB = round(METAL_WORKING_SET_FRACTION[0] * REFERENCE_MAC_GB, 1)


def setups_table():
    """Weights resident per setup, all loaded versus staged, in GB (a pandas DataFrame)."""
    import pandas as pd

    rows = [
        {
            "setup": s.name,
            "text encoders (GB)": round(s.text_stage / GB, 2),
            "transformer (GB)": round(s.transformer / GB, 2),
            "VAE (GB)": round(s.vae / GB, 2),
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
    fig.add_hline(y=REFERENCE_MAC_GB, line_dash="dot", annotation_text="16 GB Mac: all memory", annotation_position="top left")
    fig.add_hline(y=METAL_LIMIT_16GB, line_dash="dash", annotation_text="16 GB Mac: Metal's recommended working set (low end)", annotation_position="bottom left")
    fig.update_layout(
        barmode="group", yaxis_title="weights resident (GB)", height=480, template="plotly_white",
        # below the setups' names, not over the plot: the mode bar (on hover) would hide a legend at the top
        legend=dict(orientation="h", x=0, xanchor="left", y=-0.42, yanchor="top"),
        margin=dict(l=60, r=20, t=40, b=170),
    )
    return fig
