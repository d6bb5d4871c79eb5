"""Size of a GGUF file, tensor by tensor, the way the published FLUX/SD GGUF files were quantized.

The rule that decides each tensor's type lives in `lib.gguf.rule` (shared with the file writer); this
module turns it into bytes, header included. Bytes per block come from gguf-py's `GGML_QUANT_SIZES`
{cite}`gerganov2023gguf`; published sizes to compare with: {cite}`city96gguf`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from lib.gguf.rule import QUANTIZATION_THRESHOLD, QuantTypeError, base_type, bits_per_weight, tensor_type
from lib.gguf.rule import block as _block

ALIGNMENT = 32  # GGUF default general.alignment: every tensor's data starts on a 32-byte boundary

__all__ = ["QUANTIZATION_THRESHOLD", "QuantTypeError", "base_type", "bits_per_weight", "tensor_type",
           "tensor_bytes", "header_bytes", "tensor_types", "gguf_file_bytes", "bytes_by_type"]


def tensor_bytes(shape: tuple[int, ...], gtype: str) -> int:
    """Bytes of one tensor's data stored as `gtype` (rows of whole blocks)."""
    elems, nbytes = _block(gtype)
    n = math.prod(shape)
    if shape and shape[-1] % elems:
        raise QuantTypeError(f"a row of {shape[-1]} does not fill whole {gtype} blocks of {elems}")
    return n // elems * nbytes


def _pad(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _str_bytes(s: str) -> int:
    return 8 + len(s.encode())  # GGUF string: uint64 length + bytes


def header_bytes(names_dims: Mapping[str, int], arch: str = "flux") -> int:
    """Bytes before the tensor data: header, the three metadata keys convert.py writes, tensor infos, padding."""
    n = 4 + 4 + 8 + 8  # magic, version, tensor count, metadata count
    n += _str_bytes("general.architecture") + 4 + _str_bytes(arch)
    n += _str_bytes("general.quantization_version") + 4 + 4
    n += _str_bytes("general.file_type") + 4 + 4
    for name, ndim in names_dims.items():
        n += _str_bytes(name) + 4 + 8 * ndim + 4 + 8  # name, n_dims, dims, type, offset
    return _pad(n)


def tensor_types(named_shapes: Mapping[str, tuple[int, ...]], file_type: str, source_dtype: str = "BF16") -> dict[str, str]:
    """Name -> GGML type of every tensor in a file of `file_type`."""
    return {k: tensor_type(k, tuple(s), file_type, source_dtype) for k, s in named_shapes.items()}


def gguf_file_bytes(named_shapes: Mapping[str, tuple[int, ...]], qtype: str, source_dtype: str = "BF16", arch: str = "flux") -> int:
    """Size in bytes of the GGUF file that quantizes these tensors (name -> shape) to file type `qtype`."""
    types = tensor_types(named_shapes, qtype, source_dtype)
    data = sum(_pad(tensor_bytes(tuple(s), types[k])) for k, s in named_shapes.items())
    return header_bytes({k: len(s) for k, s in named_shapes.items()}, arch) + data


def bytes_by_type(named_shapes: Mapping[str, tuple[int, ...]], qtype: str, source_dtype: str = "BF16") -> dict[str, tuple[int, int]]:
    """GGML type -> (elements, bytes) in a file of `qtype`: what stays high precision, and what it costs."""
    out: dict[str, tuple[int, int]] = {}
    for k, s in named_shapes.items():
        t = tensor_type(k, tuple(s), qtype, source_dtype)
        e, b = out.get(t, (0, 0))
        out[t] = (e + math.prod(s), b + tensor_bytes(tuple(s), t))
    return out
