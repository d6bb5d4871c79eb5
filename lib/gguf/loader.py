"""Load a FLUX transformer from a BFL-keyed GGUF file (city96's or ours) with weights kept quantized.

diffusers' own route, `FluxTransformer2DModel.from_single_file(path, ...)`, converts BFL keys with
`convert_flux_transformer_checkpoint_to_diffusers`, which hard-codes FLUX.1's inner_dim = 3072
(diffusers 0.42, loaders/single_file_utils.py), so any other width fails inside `torch.split`. We read the
file ourselves (lib.gguf.reader: the tensors diffusers' `load_gguf_checkpoint` would make, but as views of a
read-only memory map instead of a copy of the whole file), convert the keys with sizes taken from the tensors
(lib.gguf.keymap: renames, and row splits that are views too), and hand the converted dict to the same
`from_single_file`: its keys then already match the model, so diffusers skips its converter and does the rest
(GGUF quantizer, GGUFLinear layers).

What `from_single_file` then does with the tensors (diffusers 0.42, measured): the model is built on meta;
`load_model_dict_into_meta` casts floating tensors to `dtype` (a no-op for F32 at float32; F16 tensors become
new float32 tensors - small, embedders and the like), skips uint8 GGUF weights, calls `.contiguous()` (a
no-op: whole tensors and row slices of them are contiguous) and hands GGUF weights to the quantizer's
`create_quantized_param`, which stores `param.to("cpu")` (a no-op). So every quantized weight of the loaded
model points into the file mapping (tests/test_gguf_flux.py checks the addresses), and loading touches
almost none of the file's pages: the RSS grows by the file's size only at the first forward, as page
cache that the kernel may drop again (`python -m lib.tools.bench_gguf_load` measures both).
"""

from __future__ import annotations

from pathlib import Path

import torch

from lib.errors import WeightsError
from lib.gguf.keymap import bfl_to_diffusers
from lib.gguf.reader import UnsupportedQuantType, read_gguf_tensors, release_pages


def _read_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a GGUF file as diffusers reads them (GGUFParameter for quantized types), memory-mapped."""
    if not path.is_file():
        raise WeightsError(f"GGUF file not found: {path}. Check the path, or download the file first.")
    try:
        return read_gguf_tensors(path)
    except UnsupportedQuantType as exc:
        raise WeightsError(f"{path} cannot be loaded: {exc}. Use a file of another quantization.") from exc
    except Exception as exc:  # gguf-py raises ValueError/IndexError/struct errors on a broken header
        raise WeightsError(
            f"{path} is not a readable GGUF file ({type(exc).__name__}: {exc}). It is probably truncated or "
            "corrupt: delete it and download or write it again."
        ) from exc


def _expected_keys(config_dir: Path) -> tuple[set[str], dict]:
    """Parameter names and config of the transformer config_dir describes, built on the meta device."""
    from diffusers import FluxTransformer2DModel

    config = FluxTransformer2DModel.load_config(str(config_dir), subfolder="transformer", local_files_only=True)
    with torch.device("meta"):
        model = FluxTransformer2DModel.from_config(config)
    return set(model.state_dict()), config


def load_flux_transformer_gguf(gguf_path: Path, config_dir: Path, compute_dtype: torch.dtype):
    """A FluxTransformer2DModel with GGUF weights (dequantized per forward to compute_dtype); no hub call.

    config_dir is a pipeline snapshot holding transformer/config.json (real FLUX.1-schnell or a miniature)."""
    from diffusers import FluxTransformer2DModel, GGUFQuantizationConfig

    from lib.gguf.chunked import chunk_gguf_linears

    gguf_path, config_dir = Path(gguf_path), Path(config_dir)
    if not (config_dir / "transformer" / "config.json").is_file():
        raise WeightsError(f"{config_dir} has no transformer/config.json: pass the FLUX pipeline snapshot folder.")
    ckpt = _read_checkpoint(gguf_path)
    if "img_in.bias" in ckpt or "model.diffusion_model.img_in.bias" in ckpt:
        try:
            state = bfl_to_diffusers(ckpt)
        except KeyError as exc:
            raise WeightsError(f"{gguf_path} lacks FLUX tensor {exc}: it is not a complete FLUX transformer.") from exc
    else:
        state = ckpt  # already diffusers-keyed
    expected, config = _expected_keys(config_dir)
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise WeightsError(
            f"{gguf_path} does not match the transformer config in {config_dir}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {extra[:5]}"
            f"{'...' if len(extra) > 5 else ''}. Use the GGUF file and snapshot of the same model."
        )
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    if state["x_embedder.bias"].shape[0] != inner:
        raise WeightsError(
            f"{gguf_path} has inner dim {state['x_embedder.bias'].shape[0]}, the config in {config_dir} "
            f"{inner}: use the GGUF file and snapshot of the same model."
        )
    model = FluxTransformer2DModel.from_single_file(
        state,
        quantization_config=GGUFQuantizationConfig(compute_dtype=compute_dtype),
        config=str(config_dir),
        subfolder="transformer",
        dtype=compute_dtype,  # diffusers 0.42's spelling of torch_dtype (which it deprecates)
        local_files_only=True,
    )
    chunk_gguf_linears(model)  # bounded dequantization memory per forward (lib.gguf.chunked)
    release_pages(ckpt)  # the F32/F16 pages the dtype casts read: not needed again
    return model
