"""Measure the miniature models: build time, per-image time, and what each GGUF type costs in error.

`python -m lib.miniature` prints these figures (a benchmark, not a test: timings depend on the machine)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lib.miniature import MiniaturePaths, ensure_miniatures


def _image(pipe, seed: int = 0, **kwargs) -> tuple[np.ndarray, float]:
    """One 64x64, 4-step image (float array) and its wall-clock seconds."""
    start = time.perf_counter()
    out = pipe("A Red Cube on a Blue Sphere", height=64, width=64, num_inference_steps=4,
               generator=torch.Generator("cpu").manual_seed(seed), output_type="np", **kwargs)
    return out.images[0], time.perf_counter() - start


def _best_of(pipe, repeats: int, **kwargs) -> tuple[np.ndarray, float]:
    """The image and the fastest of `repeats` timings (the first call also warms up)."""
    runs = [_image(pipe, **kwargs) for _ in range(repeats)]
    return runs[0][0], min(t for _, t in runs)


def gguf_table(paths: MiniaturePaths, repeats: int = 2) -> list[dict]:
    """Per GGUF type: bits per weight, file size, weight error vs F32, mean |pixel difference| vs the
    unquantized FLUX miniature (same seed), and seconds per 64x64 4-step image."""
    from diffusers import FluxPipeline, FluxTransformer2DModel

    from lib.gguf import BITS_PER_WEIGHT, load_flux_transformer_gguf
    from lib.gguf.measure import weight_error
    from lib.gguf.writer import dequantized_state

    flux_kw = dict(guidance_scale=0.0, max_sequence_length=64)
    reference = FluxTransformer2DModel.from_pretrained(paths.flux, subfolder="transformer")
    ref_img, ref_s = _best_of(FluxPipeline.from_pretrained(paths.flux, transformer=reference), repeats, **flux_kw)
    ref_state = dequantized_state(paths.gguf["F32"])
    rows = [dict(qtype="unquantized", bits_per_weight=32.0, file_mb=None, weight_error=0.0, image_diff=0.0,
                 seconds=ref_s)]
    for qtype, path in paths.gguf.items():
        transformer = load_flux_transformer_gguf(path, paths.flux, torch.float32)
        img, seconds = _best_of(FluxPipeline.from_pretrained(paths.flux, transformer=transformer), repeats, **flux_kw)
        rows.append(dict(qtype=qtype, bits_per_weight=BITS_PER_WEIGHT[qtype], file_mb=path.stat().st_size / 1e6,
                         weight_error=weight_error(path, ref_state), image_diff=float(np.abs(img - ref_img).mean()),
                         seconds=seconds))
    return rows


def sd3_seconds(paths: MiniaturePaths, repeats: int = 2) -> dict[str, float]:
    """Seconds per 64x64 4-step SD3 miniature image with and without T5 (CFG on, guidance 7)."""
    from diffusers import StableDiffusion3Pipeline

    full = StableDiffusion3Pipeline.from_pretrained(paths.sd3)
    no_t5 = StableDiffusion3Pipeline.from_pretrained(paths.sd3, text_encoder_3=None, tokenizer_3=None)
    return {"sd3 with T5": _best_of(full, repeats, guidance_scale=7.0)[1],
            "sd3 drop-T5": _best_of(no_t5, repeats, guidance_scale=7.0)[1]}


def main() -> None:
    """Build into a fresh temp dir (timed), then print the generation and GGUF tables."""
    from diffusers.utils import logging as dlogging

    dlogging.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="dme-miniature-") as tmp:
        start = time.perf_counter()
        paths = ensure_miniatures(Path(tmp) / "cache")
        print(f"build (tokenizers, SD3, FLUX, {len(paths.gguf)} GGUF files): {time.perf_counter() - start:.2f} s")
        for name, seconds in sd3_seconds(paths).items():
            print(f"{name:<14} 64x64, 4 steps: {seconds:.3f} s")
        print(f"{'qtype':<12}{'bits/w':>7}{'file MB':>9}{'weight err':>12}{'|img diff|':>12}{'s/image':>9}")
        for r in gguf_table(paths):
            size = f"{r['file_mb']:.2f}" if r["file_mb"] is not None else "-"
            print(f"{r['qtype']:<12}{r['bits_per_weight']:>7.2f}{size:>9}{r['weight_error']:>12.5f}"
                  f"{r['image_diff']:>12.7f}{r['seconds']:>9.3f}")
