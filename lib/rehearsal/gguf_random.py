"""A random FLUX.1-schnell transformer as a GGUF file laid out like city96's `flux1-schnell-Q4_K_S.gguf`.

Black Forest Labs' tensor names and shapes (`lib.architectures.params.flux_schnell_named_shapes`), each
tensor in the type the published file gives it (`lib.gguf.rule.tensor_type`), the three metadata keys
city96's converter writes: the file has the published size to the byte (`lib.architectures.quant_size`).
Quantizing 12 billion random floats with `lib.gguf.writer` would take hours here, so the Q4_K blocks are
written directly: llama.cpp's block layout (`lib.gguf.kquants`: float16 d and dmin, twelve bytes of
six-bit sub-block scales and mins, 128 bytes of 4-bit levels) with random levels, random sub-block scales
s in [16, 48] and min m = s, and dmin = 7.5 d, so that every value d*s*q - dmin*m = d*s*(q - 7.5) is centred
on zero with a standard deviation of about 0.02, like trained weights. F16/F32 tensors get
`random_tensors.random_bits`; RMSNorm scales are 1.
"""

from __future__ import annotations

import math
from pathlib import Path

import gguf
import numpy as np
import torch

from lib.gguf.kquants import _pack_scales_mins  # the 12-byte scales field of Q4_K/Q5_K blocks
from lib.gguf.rule import block, tensor_type
from lib.gguf.writer import llama_file_type
from lib.rehearsal.hfcache import RepoWriter, fake_commit, snapshot_bytes
from lib.rehearsal.random_tensors import random_bits
from lib.registry import PRESETS, block_type

FILE_TYPE = "Q4_K_S"
TARGET_STD = 0.02
_LEVEL_STD = math.sqrt((16**2 - 1) / 12)  # standard deviation of a level uniform on 0..15


def named_shapes(scale: str = "full") -> dict[str, tuple[int, ...]]:
    """BFL tensor name -> shape of the FLUX.1-schnell transformer (or its miniature widths when tiny)."""
    if scale == "full":
        from lib.architectures.params import flux_schnell_named_shapes

        return flux_schnell_named_shapes("bfl")
    from lib.architectures.params import build_meta
    from lib.gguf.keymap import diffusers_to_bfl
    from lib.rehearsal.snapshots import parts

    part = next(p for p in parts("flux", scale) if p.cls == "FluxTransformer2DModel")
    meta = build_meta(part.cls, part.config)  # renamed on meta tensors, as flux_schnell_named_shapes does
    return {k: tuple(v.shape) for k, v in diffusers_to_bfl(meta.state_dict()).items()}


def q4_k_blocks(n_blocks: int, generator: torch.Generator) -> np.ndarray:
    """`n_blocks` random Q4_K super-blocks (144 bytes each) that decode to zero-mean values of std ~TARGET_STD."""
    raw = torch.empty(n_blocks * (128 + 8), dtype=torch.uint8).random_(0, 256, generator=generator).numpy()
    levels, picks = raw[: n_blocks * 128].reshape(n_blocks, 128), raw[n_blocks * 128:].reshape(n_blocks, 8)
    sub_scales = (16 + picks % 33).astype(np.uint8)  # 16..48, 6 bits
    rms_scale = math.sqrt(sum(s * s for s in range(16, 49)) / 33)
    d = np.float16(TARGET_STD / (rms_scale * _LEVEL_STD))
    dmin = np.float16(7.5 * float(d))  # min m = s: d*s*q - dmin*s is centred when dmin = 7.5 d
    head = np.frombuffer(np.array([d, dmin], dtype=np.float16).tobytes(), dtype=np.uint8)
    out = np.empty((n_blocks, 144), dtype=np.uint8)
    out[:, 0:4] = head
    out[:, 4:16] = _pack_scales_mins(sub_scales, sub_scales)
    out[:, 16:] = levels
    return out


def tensor_data(name: str, shape: tuple[int, ...], gtype: str, seed: int) -> np.ndarray:
    """The stored form of one tensor: uint8 blocks (rows x bytes) for Q4_K, float16/float32 values otherwise."""
    import zlib

    generator = torch.Generator().manual_seed(zlib.crc32(f"{seed}/{name}".encode()))
    n = math.prod(shape)
    if gtype == "Q4_K":
        elems, nbytes = block(gtype)
        return q4_k_blocks(n // elems, generator).reshape(*shape[:-1], shape[-1] // elems * nbytes)
    if gtype not in ("F16", "F32"):
        raise ValueError(f"{name}: type {gtype} is not written by this module (only Q4_K, F16, F32)")
    dtype = torch.float16 if gtype == "F16" else torch.float32
    values = torch.ones(n, dtype=dtype) if name.endswith(".scale") else random_bits(n, gtype, generator)
    return values.numpy().reshape(shape)


def write_random_gguf(path: Path, shapes: dict[str, tuple[int, ...]], file_type: str = FILE_TYPE,
                      seed: int = 0) -> Path:
    """Write a GGUF file of random tensors, each of the published type for `file_type`, tensors in name order."""
    if block_type(file_type) != "Q4_K":
        raise ValueError(f"only Q4_K files are written at random (asked {file_type})")
    types = {k: tensor_type(k, tuple(s), file_type) for k, s in shapes.items()}
    writer = gguf.GGUFWriter(path=None, arch="flux")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(llama_file_type(block_type(file_type)))
    names = sorted(shapes)
    for name in names:
        shape, gtype = tuple(shapes[name]), types[name]
        if gtype == "Q4_K":
            elems, nbytes = block(gtype)
            byte_shape = (*shape[:-1], shape[-1] // elems * nbytes)
            writer.add_tensor_info(name, byte_shape, np.dtype(np.uint8), math.prod(byte_shape),
                                   raw_dtype=gguf.GGMLQuantizationType.Q4_K)
        else:
            dtype = np.dtype(np.float16 if gtype == "F16" else np.float32)
            writer.add_tensor_info(name, shape, dtype, math.prod(shape) * dtype.itemsize)
    writer.write_header_to_file(path=Path(path))
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for name in names:
        writer.write_tensor_data(tensor_data(name, tuple(shapes[name]), types[name], seed))
    writer.close()
    return Path(path)


def gguf_filename() -> str:
    """The published file's name: flux1-schnell-Q4_K_S.gguf."""
    return PRESETS["flux-schnell"].published_gguf[FILE_TYPE].filename


def write_gguf_snapshot(cache: Path, scale: str = "full", log=print) -> Path:
    """The random file in the hub cache as city96/FLUX.1-schnell-gguf's snapshot (reused when complete)."""
    from lib.rehearsal.snapshots import WRITER_VERSION

    repo_id = PRESETS["flux-schnell"].gguf_repo
    repo = RepoWriter(cache, repo_id, fake_commit(WRITER_VERSION, repo_id, scale),
                      {"writer_version": WRITER_VERSION, "scale": scale})
    name = gguf_filename()
    if not repo.is_complete():
        repo.start()
        repo.add_file(name, lambda p: write_random_gguf(p, named_shapes(scale)))
        log(f"  {repo_id}: {name} written")
        repo.finish({"files": snapshot_bytes(repo.snapshot)})
    return repo.snapshot / name
