"""Read a GGUF file's tensors as torch tensors that live in the file's memory map: no copy of the file is made.

diffusers' reader (`load_gguf_checkpoint`, diffusers 0.42 `models/model_loading_utils.py`) builds each tensor
with `torch.from_numpy(tensor.data.copy())`: gguf-py's `GGUFReader` maps the file, and the `.copy()` puts a second,
anonymous copy of every tensor in RAM; while it runs both the touched map pages and the copy are resident, so
the load peak is about twice the file. This reader builds the same tensors as views of gguf-py's read-only
`np.memmap`:

- F32 and F16 tensors become plain tensors of that dtype, other types (BF16, Q4_0 ... Q6_K) `GGUFParameter`s
  of raw bytes (uint8, shape `(*rows, bytes_per_row)`, `quant_type` set), exactly as diffusers does; the shapes
  are gguf-py's (dims reversed, the last one in bytes for block types), so the dicts are equal tensor for tensor.
- Pages are read from disk when first touched (the first forward pass, which dequantizes every weight), and
  are then page cache: they count in the process's RSS (as file-backed, `RssFile`), but the kernel can drop
  them under memory pressure and re-read them, where an anonymous copy would have to be swapped.

The mapping is read-only (PROT_READ, shared). A private copy-on-write map (`mode="c"`) would make the arrays
writable, but Linux charges a private writable map to the commit limit as if it were anonymous memory, so a
file larger than RAM + swap would fail to map; a read-only map costs nothing until read. The price: torch has
no read-only tensors, so an in-place write into one of these tensors (`weight.add_(...)`, `nn.init.*_`,
`copy_`) hits a read-only page and the process dies with SIGSEGV. diffusers never writes to them (GGUF
weights are dequantized into new tensors at each forward; dtype casts make new tensors); anything that wants
to modify weights in place must `.clone()` them first. The mapping lives as long as any tensor of it does;
the file must not be truncated or rewritten in place meanwhile (the project's writer replaces files
atomically, so an old mapping keeps the old file).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

# What torch says (once per process) for a tensor made from a read-only array; ignored for our arrays only.
_READ_ONLY_WARNING = r"The given NumPy array is not writable"


class UnsupportedQuantType(ValueError):
    """A tensor stored in a GGML type diffusers cannot dequantize."""


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing `array`'s memory (a view into the map), without torch's read-only warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_READ_ONLY_WARNING, category=UserWarning)
        return torch.from_numpy(array)


class MappedTensors(dict):
    """Name -> tensor, all views of one read-only file mapping whose addresses are `span` (start, end)."""

    span: tuple[int, int] = (0, 0)


def read_gguf_tensors(path: str | Path) -> MappedTensors:
    """Name -> tensor for every tensor of a GGUF file, as diffusers' `load_gguf_checkpoint` returns them, but
    backed by a read-only memory map of the file instead of a copy (see the module docstring).

    Raises whatever gguf-py raises on a broken file (ValueError, IndexError, OSError...), and
    UnsupportedQuantType for a type diffusers cannot dequantize."""
    import gguf
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES, GGUFParameter

    reader = gguf.GGUFReader(str(path), mode="r")
    plain = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
    out = MappedTensors()
    out.span = (reader.data.ctypes.data, reader.data.ctypes.data + reader.data.nbytes)
    for t in reader.tensors:
        if t.tensor_type not in plain and t.tensor_type not in SUPPORTED_GGUF_QUANT_TYPES:
            raise UnsupportedQuantType(
                f"{t.name} is stored as {t.tensor_type.name}, which diffusers cannot dequantize "
                f"(supported: {', '.join(q.name for q in SUPPORTED_GGUF_QUANT_TYPES)})"
            )
        data = _as_tensor(t.data)  # gguf-py's view: shape already reversed, bytes per row for block types
        out[t.name] = data if t.tensor_type in plain else GGUFParameter(data, quant_type=t.tensor_type)
    return out


_MADV_DONTNEED = 4  # the same value on Linux and macOS


def release_pages(tensors: MappedTensors) -> int:
    """Drop this process's resident pages behind the plain (F32/F16) tensors of a mapped GGUF file; return
    the bytes advised.

    diffusers casts those tensors to the compute dtype while loading (new tensors), which reads their pages
    from the map; they then stay resident in the process (~0.15 GB for FLUX.1-schnell Q4_K_S) though nothing
    reads them again. madvise(MADV_DONTNEED) on a read-only shared file mapping only unmaps them from this
    process: the file is untouched and a later read faults the same bytes back in, so it is safe even for a
    tensor that is still in use (F32 at float32 stays a view of the map). Quantized weights are left alone:
    every forward reads them. Only addresses inside the mapping are advised (on anonymous memory the same
    call would zero the data), so a dict from another reader is left alone. Where libc has no madvise
    (Windows), nothing is done."""
    low, high = getattr(tensors, "span", (0, 0))
    if high <= low:
        return 0
    import ctypes
    import mmap
    import sys

    if sys.platform not in ("linux", "darwin"):
        return 0
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return 0
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = mmap.PAGESIZE
    advised = 0
    for tensor in tensors.values():
        if type(tensor) is not torch.Tensor or tensor.dtype not in (torch.float32, torch.float16):
            continue  # GGUFParameter (quantized, read at every forward)
        start, end = tensor.data_ptr(), tensor.data_ptr() + tensor.numel() * tensor.element_size()
        if start < low or end > high:
            continue
        first, last = -(-start // page) * page, end // page * page  # whole pages inside the tensor only
        if last > first and madvise(first, last - first, _MADV_DONTNEED) == 0:
            advised += last - first
    return advised

