"""Write a FLUX transformer to a GGUF file the way published ones are: BFL key names, big matrices
block-quantized, small and sensitive tensors kept at high precision (the rule in `lib.gguf.rule`)."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import torch

from lib.gguf import rule
from lib.gguf.keymap import diffusers_to_bfl
from lib.gguf.quants import qtype_from_name, quantize
from lib.registry import file_type_of_block


def llama_file_type(qtype: str) -> gguf.LlamaFileType:
    """The `general.file_type` a file of mostly `qtype` blocks declares: its llama.cpp file type (Q4_K -> Q4_K_S)
    from the registry, looked up by name in gguf-py's enum (ALL_F32, else MOSTLY_<file type>)."""
    file_type = file_type_of_block(qtype)
    return gguf.LlamaFileType.ALL_F32 if file_type == "F32" else gguf.LlamaFileType[f"MOSTLY_{file_type}"]


def tensor_type(name: str, shape: tuple[int, ...], qtype: str) -> gguf.GGMLQuantizationType:
    """The type a tensor is stored in under qtype, by the published files' rule."""
    return gguf.GGMLQuantizationType[rule.tensor_type(name, tuple(shape), qtype)]


def write_flux_gguf(transformer: torch.nn.Module, out_path: Path, qtype: str) -> Path:
    """Save a diffusers FluxTransformer2DModel as a BFL-keyed GGUF file of qtype; atomic (temp + rename)."""
    target = qtype_from_name(qtype)  # raises early on an unknown name
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float32).cpu() for k, v in transformer.state_dict().items()}
    tensors = diffusers_to_bfl(state)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(path=None, arch="flux")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(llama_file_type(target.name))
    for name in sorted(tensors):
        data = tensors[name].numpy()
        gtype = tensor_type(name, data.shape, qtype)
        writer.add_tensor(name, quantize(data, gtype), raw_dtype=gtype)
    try:
        writer.write_header_to_file(path=tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out_path


def read_gguf_types(path: Path) -> dict[str, str]:
    """Tensor name -> GGUF type name, read from a file's header (what a reader would check first)."""
    reader = gguf.GGUFReader(str(path))
    return {t.name: t.tensor_type.name for t in reader.tensors}


def dequantized_state(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a GGUF file decoded to float32 by gguf-py's reference decoders (BFL names)."""
    reader = gguf.GGUFReader(str(path))
    return {t.name: gguf.quants.dequantize(t.data, t.tensor_type).reshape(tuple(int(n) for n in reversed(t.shape)))
            for t in reader.tensors}
