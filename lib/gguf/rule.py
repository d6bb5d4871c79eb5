"""Which GGML type each tensor of a FLUX/SD GGUF file gets: the rule published files were made with.

Published image-model GGUF files (city96/FLUX.1-schnell-gguf) are made in two steps: city96's
`tools/convert.py` (ComfyUI-GGUF) writes a BF16/F16 file in which 1-D tensors and tensors of at most
1024 elements are stored as F32; then llama.cpp's `llama-quantize`, patched by `tools/lcpp.patch`,
quantizes only tensors whose name ends in `weight` and that have >= 2 dimensions, keeps the input and
output embedders in F32 (`img_in.`, `time_in.in_layer.`, `vector_in.in_layer.`, `guidance_in.in_layer.`,
`final_layer.linear.`) and the other embedders in F16 (`txt_in.`, `time_in.`, `vector_in.`, `guidance_in.`,
`final_layer.`, `time_embedding.`, `add_embedding.`), and falls back to F16 when a row's width is not a
multiple of the type's block. Name-based bumps of llama.cpp's K-quant mixes (`attn_v`, `ffn_down`, ...)
are not modelled: no tensor name of the BFL FLUX layout matches them.

One rule serves both the file writer (`lib.gguf.writer`) and the size calculator
(`lib.architectures.quant_size`), so a predicted size and a written file agree to the byte; it is the
library's only fallback rule (`lib.gguf.quants.quantize` encodes exactly the type it is given).
"""

from __future__ import annotations

import math

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from lib.registry import GGUF_FILE_TYPES

QUANTIZATION_THRESHOLD = 1024  # convert.py: tensors this small stay F32

_KEEP_F32 = ("img_in.", "time_in.in_layer.", "vector_in.in_layer.", "guidance_in.in_layer.", "final_layer.linear.")
_KEEP_F16 = ("txt_in.", "time_in.", "vector_in.", "guidance_in.", "final_layer.", "time_embedding.", "add_embedding.")


class QuantTypeError(ValueError):
    """A GGUF file type this module does not model."""


def block(gtype: str) -> tuple[int, int]:
    """(elements per block, bytes per block) of a GGML tensor type, from gguf-py."""
    return GGML_QUANT_SIZES[GGMLQuantizationType[gtype]]


def bits_per_weight(gtype: str) -> float:
    """Bits one weight costs in a GGML tensor type (e.g. Q4_0: 18 bytes per 32 weights = 4.5)."""
    elems, nbytes = block(gtype)
    return 8 * nbytes / elems


def base_type(name: str, shape: tuple[int, ...], source_dtype: str = "BF16") -> str:
    """Type convert.py gives a tensor in the unquantized file: F32 for 1-D and tiny tensors, else the source dtype."""
    if len(shape) == 1 or math.prod(shape) <= QUANTIZATION_THRESHOLD:
        return "F32"
    return source_dtype


def tensor_type(name: str, shape: tuple[int, ...], file_type: str, source_dtype: str = "BF16") -> str:
    """GGML type of one tensor in a file of `file_type`, following convert.py + the patched llama-quantize."""
    if file_type not in GGUF_FILE_TYPES:  # the file-type -> block-type map lives in lib.registry
        raise QuantTypeError(f"file type {file_type!r} is not modelled; use one of {list(GGUF_FILE_TYPES)}")
    base = base_type(name, shape, source_dtype)
    target = GGUF_FILE_TYPES[file_type]
    if target in ("F32", "F16", "BF16"):
        return "F32" if base == "F32" else target
    if not name.endswith("weight") or len(shape) < 2:
        return base  # llama-quantize leaves biases and 1-D tensors as they are
    if any(k in name for k in _KEEP_F32):
        return "F32"
    if any(k in name for k in _KEEP_F16):
        return "F16"
    if shape[-1] % block(target)[0]:
        return "F16"  # lcpp.patch: forced F16 fallback for rows that do not fill whole blocks
    return target
