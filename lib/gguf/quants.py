"""Quantize one tensor to a GGUF type: gguf-py for the block types it can encode, our K-quant encoders
for the rest, and llama.cpp's fallback when a tensor's rows do not fit the type's blocks."""

from __future__ import annotations

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf import quants as gguf_quants

from lib.errors import ConfigError
from lib.gguf import kquants

QTYPES: tuple[str, ...] = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0")
BITS_PER_WEIGHT: dict[str, float] = {
    name: 8 * GGML_QUANT_SIZES[GGMLQuantizationType[name]][1] / GGML_QUANT_SIZES[GGMLQuantizationType[name]][0]
    for name in QTYPES
}

_OWN_ENCODERS = {
    GGMLQuantizationType.Q4_K: kquants.quantize_q4_k,
    GGMLQuantizationType.Q5_K: kquants.quantize_q5_k,
    GGMLQuantizationType.Q6_K: kquants.quantize_q6_k,
}
# llama.cpp's `llama_tensor_get_type`: a K-quant tensor whose row width is not a multiple of 256 falls
# back to the legacy type of about the same size; if that does not fit either, to F16.
_K_FALLBACK = {
    GGMLQuantizationType.Q4_K: GGMLQuantizationType.Q5_0,
    GGMLQuantizationType.Q5_K: GGMLQuantizationType.Q5_1,
    GGMLQuantizationType.Q6_K: GGMLQuantizationType.Q8_0,
}


def qtype_from_name(name: str) -> GGMLQuantizationType:
    """The gguf enum for a qtype name from QTYPES; a clear error for anything else."""
    if name not in QTYPES:
        raise ConfigError(f"unknown GGUF quantization type {name!r}; choose one of {', '.join(QTYPES)}")
    return GGMLQuantizationType[name]


def fitting_type(qtype: GGMLQuantizationType, row_width: int) -> GGMLQuantizationType:
    """The type a tensor with rows of row_width values really gets under qtype (llama.cpp's fallback)."""
    block = GGML_QUANT_SIZES[qtype][0]
    if row_width % block == 0:
        return qtype
    qtype = _K_FALLBACK.get(qtype, GGMLQuantizationType.F16)
    if row_width % GGML_QUANT_SIZES[qtype][0] != 0:
        return GGMLQuantizationType.F16
    return qtype


def quantize(data: np.ndarray, qtype: GGMLQuantizationType) -> tuple[np.ndarray, GGMLQuantizationType]:
    """Encode a float array to qtype (after fallback); returns the raw GGUF data and the type used."""
    data = np.ascontiguousarray(data, dtype=np.float32)
    qtype = fitting_type(qtype, data.shape[-1])
    if qtype in _OWN_ENCODERS:
        return _OWN_ENCODERS[qtype](data), qtype
    return gguf_quants.quantize(data, qtype), qtype


def dequantize(raw: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """Decode raw GGUF data with gguf-py's reference decoders (the ones the tests trust)."""
    return gguf_quants.dequantize(raw, qtype)
