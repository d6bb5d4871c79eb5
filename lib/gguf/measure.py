"""How much a GGUF file's weights differ from full precision: the numbers behind 'Q4_K loses more than Q8_0'."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lib.gguf.writer import dequantized_state


def weight_error(path: Path, reference: Path | Mapping[str, np.ndarray]) -> float:
    """Relative RMS error ||W_q - W|| / ||W|| over every tensor of the file (the whole model), W the reference:
    an F32 GGUF file with the same BFL names, or its `dequantized_state` (decode it once for many files)."""
    ref = dequantized_state(Path(reference)) if isinstance(reference, (str, Path)) else reference
    decoded = dequantized_state(Path(path))
    if set(ref) != set(decoded):
        raise ValueError(f"{path} and the reference hold different tensors")
    err = sum(float(np.sum((decoded[k].astype(np.float64) - ref[k]) ** 2)) for k in ref)
    norm = sum(float(np.sum(np.asarray(ref[k], dtype=np.float64) ** 2)) for k in ref)
    return (err / norm) ** 0.5 if norm else 0.0
