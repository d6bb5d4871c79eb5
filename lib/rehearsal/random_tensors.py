"""Random weights with a real module's tensor names and shapes, streamed into (sharded) safetensors files.

The names and shapes come from the real diffusers/transformers class built on the meta device
(`lib.architectures.params.build_meta`), so they are what `from_pretrained` expects; nothing is held in
memory but one chunk of one tensor. Values: normalisation scales are 1 (as initialised), every other float
is random with a weight-like spread — sign and 7 mantissa bits uniform, magnitude in [2^-8, 2^-4), standard
deviation about 0.027 — made directly as bfloat16 bit patterns (about 3x faster here than
`torch.randn`, and the values only need to be finite and of the right scale: a rehearsal measures time and
memory, never image quality).

A safetensors file is an 8-byte little-endian header length, a JSON header (dtype, shape and byte range of
each tensor, padded with spaces to 8 bytes) and the raw data (huggingface/safetensors, "Format"); like the
safetensors library, we store tensors sorted by name. Sharding follows huggingface_hub's
`split_torch_state_dict_into_shards`: tensors in state-dict order, a new shard when the next one would pass
the limit; transformers saves shards of at most 5 GB, diffusers of 10 GB (their `save_pretrained` defaults
when the published repos were written).
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass

import torch

from lib.rehearsal.hfcache import RepoWriter

_CHUNK = 1 << 24  # elements per generated chunk (32 MB of bf16)
_DTYPES = {"BF16": (torch.bfloat16, 2), "F16": (torch.float16, 2), "F32": (torch.float32, 4)}
TRANSFORMERS_SHARD = 5 * 10**9
DIFFUSERS_SHARD = 10 * 10**9


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a checkpoint: its name, shape, and whether it is a normalisation scale (filled with 1)."""

    name: str
    shape: tuple[int, ...]
    ones: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def module_tensors(module: torch.nn.Module, prefix: str = "") -> list[TensorSpec]:
    """Every tensor a checkpoint of `module` stores, in state-dict order: tied weights once (under their first
    name, as `save_pretrained` keeps them), normalisation scales marked, names prefixed by `prefix`."""
    norms = {f"{n}.weight" for n, m in module.named_modules() if "Norm" in type(m).__name__}
    seen: set[int] = set()
    out = []
    for name, t in module.state_dict(keep_vars=True).items():
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(TensorSpec(prefix + name, tuple(t.shape), name in norms))
    return out


def _seed(seed: int, name: str) -> int:
    return zlib.crc32(f"{seed}/{name}".encode())


def random_bits(numel: int, dtype: str, generator: torch.Generator) -> torch.Tensor:
    """`numel` random values of `dtype` (BF16, F16 or F32) with magnitudes in [2^-8, 2^-4), random signs."""
    words = torch.empty((numel + 3) // 4, dtype=torch.int64).random_(-2**63, None, generator=generator)
    half = words.view(torch.int16)[:numel]
    if dtype == "F16":  # 1 sign, 5 exponent (bias 15), 10 mantissa bits: exponent 7 + two random bits
        return half.bitwise_and_(0x8FFF - 0x10000).add_(7 << 10).view(torch.float16)
    # bfloat16: 1 sign, 8 exponent (bias 127), 7 mantissa bits; keep sign, mantissa and two bits that pick
    # the octave, then add exponent 119 (2^-8): exponents 119..122.
    bf16 = half.bitwise_and_(0x81FF - 0x10000).add_(119 << 7).view(torch.bfloat16)
    return bf16 if dtype == "BF16" else bf16.float()


def tensor_chunks(spec: TensorSpec, dtype: str, seed: int):
    """The tensor's bytes in chunks: ones for a normalisation scale, else random (seeded by its name)."""
    torch_dtype, _ = _DTYPES[dtype]
    generator = torch.Generator().manual_seed(_seed(seed, spec.name))
    for start in range(0, spec.numel, _CHUNK):
        n = min(_CHUNK, spec.numel - start)
        values = torch.ones(n, dtype=torch_dtype) if spec.ones else random_bits(n, dtype, generator)
        yield values.view(torch.uint8).numpy()


def shards(tensors: list[TensorSpec], max_bytes: int, dtype: str = "BF16") -> list[list[TensorSpec]]:
    """Split a checkpoint into shards as huggingface_hub's splitter does (state-dict order, greedy)."""
    size = _DTYPES[dtype][1]
    out: list[list[TensorSpec]] = [[]]
    used = 0
    for t in tensors:
        nbytes = t.numel * size
        if out[-1] and used + nbytes > max_bytes:
            out.append([])
            used = 0
        out[-1].append(t)
        used += nbytes
    return out


def header(tensors: list[TensorSpec], dtype: str) -> bytes:
    """The safetensors header (length prefix included) of these tensors stored in name order."""
    size = _DTYPES[dtype][1]
    entries: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in sorted(tensors, key=lambda t: t.name):
        entries[t.name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + t.numel * size]}
        offset += t.numel * size
    text = json.dumps(entries, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def write_safetensors(f, tensors: list[TensorSpec], dtype: str, seed: int) -> int:
    """Stream one safetensors file of random tensors into the writable `f`; returns the bytes written."""
    head = header(tensors, dtype)
    f.write(head)
    total = len(head)
    for t in sorted(tensors, key=lambda t: t.name):
        for chunk in tensor_chunks(t, dtype, seed):
            f.write(memoryview(chunk))
            total += chunk.nbytes
    return total


def write_checkpoint(repo: RepoWriter, folder: str, stem: str, tensors: list[TensorSpec], max_shard: int,
                     seed: int, dtype: str = "BF16") -> list[str]:
    """<folder>/<stem>.safetensors, or <stem>-0000i-of-0000n.safetensors shards plus <stem>.safetensors.index.json
    (the weight map transformers and diffusers read); returns the paths written. Files already in the
    snapshot (an interrupted build) are kept."""
    parts = shards(tensors, max_shard, dtype)
    names = ([f"{stem}.safetensors"] if len(parts) == 1 else
             [f"{stem}-{i + 1:05d}-of-{len(parts):05d}.safetensors" for i in range(len(parts))])
    paths = []
    for part, name in zip(parts, names):
        path = f"{folder}/{name}"
        if not repo.has(path):
            repo.add_stream(path, lambda f, part=part: write_safetensors(f, part, dtype, seed))
        paths.append(path)
    if len(parts) > 1:
        size = _DTYPES[dtype][1]
        index = {"metadata": {"total_size": sum(t.numel * size for t in tensors)},
                 "weight_map": {t.name: n for part, n in zip(parts, names) for t in sorted(part, key=lambda t: t.name)}}
        index["weight_map"] = dict(sorted(index["weight_map"].items()))
        path = f"{folder}/{stem}.safetensors.index.json"
        repo.add_bytes(path, (json.dumps(index, indent=2) + "\n").encode())
        paths.append(path)
    return paths
