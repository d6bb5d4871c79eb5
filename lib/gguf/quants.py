"""Quantize one tensor to a GGUF block type: gguf-py for the block types it can encode, our K-quant
encoders (`lib.gguf.kquants`) for the rest.

Which type a tensor gets, including the F16 fallback for rows that do not fill whole blocks, is decided
by `lib.gguf.rule` alone; this module encodes exactly the type it is given and refuses rows that don't fit.
"""

from __future__ import annotations

import numpy as np
from gguf import GGMLQuantizationType
from gguf import quants as gguf_quants

from lib.errors import ConfigError
from lib.gguf import kquants
from lib.gguf.rule import QuantTypeError, bits_per_weight, block

QTYPES: tuple[str, ...] = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0")
BITS_PER_WEIGHT: dict[str, float] = {name: bits_per_weight(name) for name in QTYPES}

_OWN_ENCODERS = {
    GGMLQuantizationType.Q4_K: kquants.quantize_q4_k,
    GGMLQuantizationType.Q5_K: kquants.quantize_q5_k,
    GGMLQuantizationType.Q6_K: kquants.quantize_q6_k,
}


def qtype_from_name(name: str) -> GGMLQuantizationType:
    """The gguf enum for a qtype name from QTYPES; a clear error for anything else."""
    if name not in QTYPES:
        raise ConfigError(f"unknown GGUF quantization type {name!r}; choose one of {', '.join(QTYPES)}")
    return GGMLQuantizationType[name]


def quantize(data: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """Encode a float array to exactly qtype; returns the raw GGUF data (rows must fill whole blocks)."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    elems = block(qtype.name)[0]
    if data.shape[-1] % elems:
        raise QuantTypeError(
            f"rows of {data.shape[-1]} values do not fill whole {qtype.name} blocks of {elems}; pick the type with "
            "lib.gguf.rule.tensor_type, which falls back to F16 as published files do")
    if qtype in _OWN_ENCODERS:
        return _OWN_ENCODERS[qtype](data)
    return gguf_quants.quantize(data, qtype)


def dequantize(raw: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """Decode raw GGUF data with gguf-py's reference decoders (the ones the tests trust)."""
    return gguf_quants.dequantize(raw, qtype)
