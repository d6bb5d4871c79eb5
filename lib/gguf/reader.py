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


def read_gguf_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Name -> tensor for every tensor of a GGUF file, as diffusers' `load_gguf_checkpoint` returns them, but
    backed by a read-only memory map of the file instead of a copy (see the module docstring).

    Raises whatever gguf-py raises on a broken file (ValueError, IndexError, OSError...), and
    UnsupportedQuantType for a type diffusers cannot dequantize."""
    import gguf
    from diffusers.quantizers.gguf.utils import SUPPORTED_GGUF_QUANT_TYPES, GGUFParameter

    reader = gguf.GGUFReader(str(path), mode="r")
    plain = (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16)
    out: dict[str, torch.Tensor] = {}
    for t in reader.tensors:
        if t.tensor_type not in plain and t.tensor_type not in SUPPORTED_GGUF_QUANT_TYPES:
            raise UnsupportedQuantType(
                f"{t.name} is stored as {t.tensor_type.name}, which diffusers cannot dequantize "
                f"(supported: {', '.join(q.name for q in SUPPORTED_GGUF_QUANT_TYPES)})"
            )
        data = _as_tensor(t.data)  # gguf-py's view: shape already reversed, bytes per row for block types
        out[t.name] = data if t.tensor_type in plain else GGUFParameter(data, quant_type=t.tensor_type)
    return out
