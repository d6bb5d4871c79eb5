"""Chapter 5's quantization study: each GGUF block type on the miniature FLUX, measured, and sized for the real 12B model.

For every type the study writes nothing new: `lib.miniature` already holds one BFL-keyed GGUF file per
type of the same random-weight transformer. It reads each file back with gguf-py and measures

- bits per weight of the block type (bytes per block from gguf-py's `GGML_QUANT_SIZES`),
- the file's size on disk,
- the weight error: relative RMS of the dequantized tensors against the F32 file, over the whole model,
- the image difference: mean absolute pixel difference (0-255) between the image the quantized
  transformer draws and the one the unquantized miniature draws from the same prompt and seed,

and, with chapter 2's per-tensor rule (`lib.architectures.quant_size`), the file size the same type
gives the full FLUX.1-schnell transformer. The miniature's weights are random: its images say nothing
about image quality, only how far each quantization moves the output of the same network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lib.registry import file_type_of_block, model_spec

# The types the chapter compares, from 16 bits down to the two 4-bit families.
STUDY_TYPES: tuple[str, ...] = ("F16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q4_0")
MODEL = "flux-schnell"  # the registry's key of the model whose published GGUF files the study sizes
GB = 1e9


@dataclass(frozen=True)
class QuantRow:
    """One block type's measurements (miniature) and its full-size file estimate."""

    qtype: str
    bits_per_weight: float
    file_bytes: int
    weight_rel_rms: float
    pixel_mad: float
    full_file_type: str
    full_file_gb: float


def pixel_mad(image: Any, reference: Any) -> float:
    """Mean absolute difference of two images on the 0-255 scale."""
    a = np.asarray(image.convert("RGB"), dtype=np.float64)
    b = np.asarray(reference.convert("RGB"), dtype=np.float64)
    return float(np.abs(a - b).mean())


def full_size_bytes(qtype: str) -> int:
    """Bytes of the FLUX.1-schnell GGUF file of this type, from the real tensor shapes (chapter 2's rule)."""
    from lib.architectures.params import flux_schnell_named_shapes
    from lib.architectures.quant_size import gguf_file_bytes

    return gguf_file_bytes(flux_schnell_named_shapes("bfl"), file_type_of_block(qtype))


def run_study(prompt: str, seed: int = 0, steps: int | None = None, types: tuple[str, ...] = STUDY_TYPES,
              paths: Any = None) -> tuple[Any, dict[str, Any], Any]:
    """Measure every type on the miniature FLUX (steps: the preset's unless given); returns (table as a
    DataFrame, {qtype: image}, unquantized image)."""
    from lib.miniature import ensure_miniatures
    from transformers.utils import logging as tlog

    # FluxPipeline makes transformers look up CLIPImageProcessor, which warns once (on stderr, into the
    # chapter's output) that it falls back to its PIL version without torchvision; the study never uses it.
    verbosity = tlog.get_verbosity()
    tlog.set_verbosity_error()
    try:
        return _measure(prompt, seed, steps, types, paths or ensure_miniatures())
    finally:
        tlog.set_verbosity(verbosity)


def _measure(prompt: str, seed: int, steps: int | None, types: tuple[str, ...], paths: Any):
    """run_study's work: the unquantized image, then each type's file, error and image."""
    import pandas as pd

    from lib.config import DiffusionConfig
    from lib.gguf import BITS_PER_WEIGHT, load_flux_transformer_gguf
    from lib.gguf.measure import weight_error
    from lib.gguf.writer import dequantized_state
    from lib.pipelines import generate, load_pipeline

    # Unstaged: the text encoders stay loaded while only the transformer is swapped for each GGUF file.
    base = DiffusionConfig(MODEL, prompt, steps=steps, seed=seed, miniature=True, quantization="none",
                           staged=False)
    loaded = load_pipeline(base, paths)
    reference = generate(loaded, base).image
    rows, images = [], {}
    f32 = dequantized_state(Path(paths.gguf["F32"]))  # the reference weights, decoded once
    for q in types:
        gguf_path = Path(paths.gguf[q])
        loaded.pipe.transformer = load_flux_transformer_gguf(gguf_path, Path(paths.flux), loaded.dtype)
        images[q] = generate(loaded, base).image
        rows.append(QuantRow(
            qtype=q,
            bits_per_weight=BITS_PER_WEIGHT[q],
            file_bytes=gguf_path.stat().st_size,
            weight_rel_rms=weight_error(gguf_path, f32),
            pixel_mad=pixel_mad(images[q], reference),
            full_file_type=file_type_of_block(q),
            full_file_gb=full_size_bytes(q) / GB,
        ))
    return pd.DataFrame([r.__dict__ for r in rows]).set_index("qtype"), images, reference


def published_size(file_type: str) -> str:
    """What the registry knows of the published file of this type: its size, that it exists, or that it doesn't."""
    file = model_spec(MODEL).published_gguf.get(file_type)
    if file is None:
        return "not published"
    return f"{file.gb:.2f}" if file.gb is not None else "published, size not recorded"


def study_table(df: Any) -> Any:
    """The chapter's table: readable column names, the published file size beside the computed one."""
    out = df.assign(
        **{"miniature file (KB)": (df["file_bytes"] / 1e3).round(1),
           "published 12B file (GB)": [published_size(t) for t in df["full_file_type"]]}
    )
    out = out.rename(columns={"bits_per_weight": "bits per weight", "weight_rel_rms": "weight error (rel. RMS)",
                              "pixel_mad": "image difference (0-255)", "full_file_type": "12B file type",
                              "full_file_gb": "12B file, computed (GB)"})
    cols = ["bits per weight", "miniature file (KB)", "weight error (rel. RMS)", "image difference (0-255)",
            "12B file type", "12B file, computed (GB)", "published 12B file (GB)"]
    out = out[cols]
    out["weight error (rel. RMS)"] = out["weight error (rel. RMS)"].map(lambda v: f"{v:.2e}")
    out["image difference (0-255)"] = out["image difference (0-255)"].map(lambda v: f"{v:.3g}")
    out["12B file, computed (GB)"] = out["12B file, computed (GB)"].round(2)
    return out


def _label_positions(df: Any, key: str) -> list[str]:
    """Point labels above the points, except the lower of two types with the same bits per weight (Q4_K and
    Q4_0), whose label goes to its left so the two do not overlap, and the right-most, labelled to its left."""
    out = []
    for q, bits in df["bits_per_weight"].items():
        same = df.loc[df["bits_per_weight"] == bits, key]
        if len(same) > 1 and df.loc[q, key] < same.max():
            out.append("middle left")
        else:  # the right-most label goes left of its point, inside the plot
            out.append("top left" if bits == df["bits_per_weight"].max() else "top right")
    return out


def study_figure(df: Any) -> Any:
    """Weight error and image difference against bits per weight (log y): what each bit buys."""
    import math

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("weight error (rel. RMS)",
                                                        "image difference (0-255)"))
    for col, key in ((1, "weight_rel_rms"), (2, "pixel_mad")):
        where = _label_positions(df, key)
        fig.add_trace(go.Scatter(x=df["bits_per_weight"], y=df[key], mode="markers+text+lines",
                                 text=list(df.index), textposition=where, name=key, showlegend=False,
                                 hovertemplate="%{text}: %{x:.2f} bits/weight, %{y:.3g}<extra></extra>"),
                      row=1, col=col)
        lo, hi = math.log10(df[key].min()), math.log10(df[key].max())
        # Labels at powers of ten only (plotly's default log ticks label 2 and 5 of every decade too),
        # and room above and below the points for their labels.
        fig.update_yaxes(type="log", dtick=1, exponentformat="power", range=[lo - 0.4, hi + 0.4],
                         row=1, col=col)
        fig.update_xaxes(title_text="bits per weight", range=[0.5, 18], row=1, col=col)
    fig.update_layout(height=420, margin=dict(l=50, r=20, t=70, b=50), template="plotly_white")
    return fig
