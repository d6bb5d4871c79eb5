"""Dequantize a GGUF linear layer in row chunks: the largest layer's full dequantized copy never exists at once.

diffusers' `GGUFLinear.forward_native` (0.42, `quantizers/gguf/utils.py`) dequantizes the whole weight at every
forward. For FLUX's single-block `linear1` (3072 -> 21504 features, 66 M weights) the Q4_K path holds the
unpacked nibbles, the fp16 products and the compute-dtype result together. Splitting the output features into
chunks of at most CHUNK_BYTES of dequantized weight bounds that transient and computes the same linear map:
every output feature is still one dot product over all input features (equal to the unchunked layer up to the
GEMM's summation order; tests/test_gguf_flux.py). The CUDA path (fused kernels) is left as diffusers has it.

`python -m lib.gguf.chunked` measures one such layer (random Q4_K weights, bf16, 64 tokens) on this CPU:
the process's peak resident memory above its level before the forward, whole versus chunked. Measured here
(Intel Xeon, 2 cores, torch 2.13.0): 334-357 MB whole; chunked, 77-101 MB with 32 MiB chunks, 20 MB with 8 MiB.
The chunk size was set by the full-size rehearsal's FLUX.1-schnell denoising step with cached embeddings
(`python -m lib rehearse --only flux-staged-cached --rerun`), run twice per size on 2026-12-04: peak 7.50 and
7.50 GB with 32 MiB chunks (7.57 in the full run before), 7.43 and 7.41 GB with 8 MiB, 7.39 GB with 4 MiB; the
step also took 37-38 s instead of 55 s (smaller chunks stay in cache), against 40 s at 4 MiB.
"""

from __future__ import annotations

import functools

import torch

CHUNK_BYTES = 8 * 2**20  # dequantized bytes per chunk (float32 worst case): 32 chunks for FLUX's linear1


def _gguf_linear_class() -> type:
    from diffusers.quantizers.gguf.utils import GGUFLinear

    return GGUFLinear


def rows_per_chunk(in_features: int, chunk_bytes: int = CHUNK_BYTES) -> int:
    """Output rows whose float32 dequantized weights fit in chunk_bytes (at least one)."""
    return max(1, chunk_bytes // (4 * in_features))


def chunked_forward(layer: torch.nn.Module, inputs: torch.Tensor, chunk_bytes: int = CHUNK_BYTES) -> torch.Tensor:
    """`layer`'s linear map on `inputs`, dequantizing its GGUF weight a chunk of output rows at a time."""
    from diffusers.quantizers.gguf.utils import dequantize_gguf_tensor

    weight, rows = layer.weight, layer.weight.shape[0]
    step = rows_per_chunk(layer.in_features, chunk_bytes)
    if rows <= step or not hasattr(weight, "quant_type"):
        return _gguf_linear_class().forward_native(layer, inputs)
    bias = layer.bias.to(layer.compute_dtype) if layer.bias is not None else None
    out = None
    for start in range(0, rows, step):
        w = dequantize_gguf_tensor(weight[start:start + step]).to(layer.compute_dtype)
        part = torch.nn.functional.linear(inputs, w, None if bias is None else bias[start:start + step])
        if out is None:
            out = part.new_empty(*part.shape[:-1], rows)
        out[..., start:start + step] = part
        del w, part
    return out


@functools.cache
def _chunked_class() -> type:
    base = _gguf_linear_class()

    class ChunkedGGUFLinear(base):
        """diffusers' GGUFLinear whose CPU/MPS forward dequantizes in row chunks (lib.gguf.chunked)."""

        def forward_native(self, inputs: torch.Tensor) -> torch.Tensor:
            return chunked_forward(self, inputs)

    return ChunkedGGUFLinear


def chunk_gguf_linears(model: torch.nn.Module) -> int:
    """Make every GGUF linear layer of `model` dequantize in row chunks; returns how many layers changed."""
    base, chunked = _gguf_linear_class(), _chunked_class()
    changed = 0
    for module in model.modules():
        if type(module) is base:
            module.__class__ = chunked
            changed += 1
    return changed


def measure(rows: int = 21504, cols: int = 3072, tokens: int = 64) -> dict[str, float]:
    """MB of peak resident memory above the level before one forward of a random Q4_K layer: whole, chunked."""
    import gguf
    import numpy as np
    from diffusers.quantizers.gguf.utils import GGUFParameter

    from lib.memory import _linux_peak_rss, _reset_linux_peak_rss

    qtype = gguf.GGMLQuantizationType.Q4_K
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = np.random.default_rng(0).integers(0, 255, size=(rows, cols // block * size), dtype=np.uint8)
    layer = _gguf_linear_class()(cols, rows, bias=False, compute_dtype=torch.bfloat16)
    layer.weight = GGUFParameter(torch.from_numpy(raw), quant_type=qtype)
    x = torch.randn(1, tokens, cols, dtype=torch.bfloat16)
    out = {}
    for name, run in (("whole", lambda: _gguf_linear_class().forward_native(layer, x)),
                      ("chunked", lambda: chunked_forward(layer, x))):
        before = int(open("/proc/self/statm").read().split()[1]) * 4096
        if not _reset_linux_peak_rss():
            raise SystemExit("this measurement needs Linux (/proc/self/clear_refs)")
        with torch.no_grad():
            run()
        out[name] = (_linux_peak_rss() - before) / 1e6
    return out


if __name__ == "__main__":
    import platform

    result = measure()
    print(f"Q4_K layer 3072 -> 21504, bf16, 64 tokens on {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}: peak above start, whole {result['whole']:.0f} MB, "
          f"chunked {result['chunked']:.0f} MB (chunks of {CHUNK_BYTES / 2**20:.0f} MiB of float32 weights)")
