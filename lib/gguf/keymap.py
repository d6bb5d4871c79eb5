"""FLUX transformer weights: diffusers' key names <-> Black Forest Labs' (what published GGUF files use).

The mapping mirrors diffusers' `convert_flux_transformer_checkpoint_to_diffusers` (loaders/single_file_utils.py)
in both directions, with one difference: the inner dimension and MLP width are read from the tensors, where
that converter hard-codes FLUX.1's inner_dim = 3072. Splits and concatenations are along dim 0 (output
rows), so they work unchanged on quantized GGUF tensors, whose blocks run along rows.
"""

from __future__ import annotations

import re

import torch

# (BFL name, diffusers name) for the parts that are plain renames; {i} = block index.
_GLOBAL = [
    ("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"),
    ("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"),
    ("vector_in.in_layer", "time_text_embed.text_embedder.linear_1"),
    ("vector_in.out_layer", "time_text_embed.text_embedder.linear_2"),
    ("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"),
    ("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"),
    ("txt_in", "context_embedder"),
    ("img_in", "x_embedder"),
    ("final_layer.linear", "proj_out"),
]
_DOUBLE = [
    ("img_mod.lin", "norm1.linear"),
    ("txt_mod.lin", "norm1_context.linear"),
    ("img_mlp.0", "ff.net.0.proj"),
    ("img_mlp.2", "ff.net.2"),
    ("txt_mlp.0", "ff_context.net.0.proj"),
    ("txt_mlp.2", "ff_context.net.2"),
    ("img_attn.proj", "attn.to_out.0"),
    ("txt_attn.proj", "attn.to_add_out"),
]
_DOUBLE_NORMS = [  # RMSNorm scales of the q/k normalisation (SD3/FLUX qk-norm)
    ("img_attn.norm.query_norm.scale", "attn.norm_q.weight"),
    ("img_attn.norm.key_norm.scale", "attn.norm_k.weight"),
    ("txt_attn.norm.query_norm.scale", "attn.norm_added_q.weight"),
    ("txt_attn.norm.key_norm.scale", "attn.norm_added_k.weight"),
]
_SINGLE = [("modulation.lin", "norm.linear"), ("linear2", "proj_out")]
_SINGLE_NORMS = [
    ("norm.query_norm.scale", "attn.norm_q.weight"),
    ("norm.key_norm.scale", "attn.norm_k.weight"),
]
_QKV = {"img_attn.qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
        "txt_attn.qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj")}
_LINEAR1 = ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")


def swap_shift_scale(t: torch.Tensor) -> torch.Tensor:
    """BFL's final adaLN emits (shift, scale); diffusers' AdaLayerNormContinuous expects (scale, shift)."""
    a, b = t.chunk(2, dim=0)
    return torch.cat([b, a], dim=0)


def _block_count(keys, prefix: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(rf"{prefix}\.(\d+)\.", k))}
    return max(found) + 1 if found else 0


def diffusers_to_bfl(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename/concatenate a diffusers FluxTransformer2DModel state dict into BFL key names."""
    out: dict[str, torch.Tensor] = {}
    for bfl, dif in _GLOBAL:
        for p in ("weight", "bias"):
            if f"{dif}.{p}" in sd:
                out[f"{bfl}.{p}"] = sd[f"{dif}.{p}"]
    for p in ("weight", "bias"):
        out[f"final_layer.adaLN_modulation.1.{p}"] = swap_shift_scale(sd[f"norm_out.linear.{p}"])
    for i in range(_block_count(sd, "transformer_blocks")):
        src, dst = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        for bfl, dif in _DOUBLE:
            for p in ("weight", "bias"):
                out[f"{dst}{bfl}.{p}"] = sd[f"{src}{dif}.{p}"]
        for bfl, dif in _DOUBLE_NORMS:
            out[dst + bfl] = sd[src + dif]
        for bfl, parts in _QKV.items():
            for p in ("weight", "bias"):
                out[f"{dst}{bfl}.{p}"] = torch.cat([sd[f"{src}{x}.{p}"] for x in parts], dim=0)
    for i in range(_block_count(sd, "single_transformer_blocks")):
        src, dst = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        for bfl, dif in _SINGLE:
            for p in ("weight", "bias"):
                out[f"{dst}{bfl}.{p}"] = sd[f"{src}{dif}.{p}"]
        for bfl, dif in _SINGLE_NORMS:
            out[dst + bfl] = sd[src + dif]
        for p in ("weight", "bias"):
            out[f"{dst}linear1.{p}"] = torch.cat([sd[f"{src}{x}.{p}"] for x in _LINEAR1], dim=0)
    return out


def bfl_to_diffusers(ckpt: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of diffusers_to_bfl, sizes read from the checkpoint (img_in's bias = inner dim)."""
    ckpt = {k.removeprefix("model.diffusion_model."): v for k, v in ckpt.items()}
    inner_dim = ckpt["img_in.bias"].shape[0]  # 1-D, so never block-quantized: its length is the width
    out: dict[str, torch.Tensor] = {}
    for bfl, dif in _GLOBAL:
        for p in ("weight", "bias"):
            if f"{bfl}.{p}" in ckpt:
                out[f"{dif}.{p}"] = ckpt[f"{bfl}.{p}"]
    for p in ("weight", "bias"):
        out[f"norm_out.linear.{p}"] = swap_shift_scale(ckpt[f"final_layer.adaLN_modulation.1.{p}"])
    for i in range(_block_count(ckpt, "double_blocks")):
        src, dst = f"double_blocks.{i}.", f"transformer_blocks.{i}."
        for bfl, dif in _DOUBLE:
            for p in ("weight", "bias"):
                out[f"{dst}{dif}.{p}"] = ckpt[f"{src}{bfl}.{p}"]
        for bfl, dif in _DOUBLE_NORMS:
            out[dst + dif] = ckpt[src + bfl]
        for bfl, parts in _QKV.items():
            for p in ("weight", "bias"):
                for name, t in zip(parts, ckpt[f"{src}{bfl}.{p}"].chunk(3, dim=0)):
                    out[f"{dst}{name}.{p}"] = t
    for i in range(_block_count(ckpt, "single_blocks")):
        src, dst = f"single_blocks.{i}.", f"single_transformer_blocks.{i}."
        for bfl, dif in _SINGLE:
            for p in ("weight", "bias"):
                out[f"{dst}{dif}.{p}"] = ckpt[f"{src}{bfl}.{p}"]
        for bfl, dif in _SINGLE_NORMS:
            out[dst + dif] = ckpt[src + bfl]
        for p in ("weight", "bias"):
            fused = ckpt[f"{src}linear1.{p}"]
            mlp_dim = fused.shape[0] - 3 * inner_dim  # FLUX: 4 x inner (mlp_ratio 4), read, not assumed
            sizes = (inner_dim, inner_dim, inner_dim, mlp_dim)
            for name, t in zip(_LINEAR1, torch.split(fused, sizes, dim=0)):
                out[f"{dst}{name}.{p}"] = t
    return out
