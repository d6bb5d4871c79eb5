"""How much a GGUF file's weights differ from full precision: the numbers behind 'Q4_K loses more than Q8_0'."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lib.gguf.writer import dequantized_state, read_gguf_types


def weight_error(path: Path, reference: dict[str, np.ndarray]) -> float:
    """Relative RMS error, over every block-quantized tensor of path, of its decoded weights vs reference
    (a BFL-keyed float32 state, e.g. `dequantized_state` of the F32 file)."""
    types = read_gguf_types(path)
    decoded = dequantized_state(path)
    num = den = 0.0
    for name, kind in types.items():
        if kind in ("F32",):
            continue
        ref = reference[name].astype(np.float64)
        num += float(((decoded[name] - ref) ** 2).sum())
        den += float((ref**2).sum())
    return float(np.sqrt(num / den)) if den else 0.0


def type_counts(path: Path) -> dict[str, int]:
    """How many tensors of each GGUF type a file holds (shows the F32 keep-list and K-quant fallbacks)."""
    counts: dict[str, int] = {}
    for kind in read_gguf_types(path).values():
        counts[kind] = counts.get(kind, 0) + 1
    return counts
