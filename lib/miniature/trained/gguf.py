"""GGUF files of the trained FLUX-mini student, made on demand and kept in a cache, not committed.

Each is a function of the committed weights (lib.gguf's encoders are deterministic), so it is written once per
weights digest into $DME_TRAINED_GGUF (default ~/.cache/dme/trained-gguf) under <digest>/, atomically; remove the
folder to free the space (each file is a few MB).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

CACHE_ENV = "DME_TRAINED_GGUF"


def gguf_file(snapshot: Path, qtype: str, cache: Path | None = None) -> Path:
    """The student's transformer as a BFL-keyed GGUF file of block type `qtype` (F16, Q8_0, Q4_K, ...)."""
    from lib.miniature.trained import weights_digest

    root = Path(cache) if cache else Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "dme" / "trained-gguf")
    target = root / weights_digest(snapshot) / f"flux-trained-{qtype}.gguf"
    if not target.is_file():
        from diffusers import FluxTransformer2DModel

        from lib.gguf import write_flux_gguf

        model = FluxTransformer2DModel.from_pretrained(snapshot / "transformer", torch_dtype=torch.float32)
        write_flux_gguf(model, target, qtype)
    return target


def gguf_transformer(snapshot: Path, qtype: str, dtype: torch.dtype = torch.float32):
    """The student's transformer loaded from its GGUF file by the library's loader (as load_pipeline does)."""
    from lib.gguf import load_flux_transformer_gguf

    return load_flux_transformer_gguf(gguf_file(snapshot, qtype), snapshot, dtype)
