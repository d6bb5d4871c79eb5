"""Check `flops` against PyTorch's own counter on reduced instances of the four denoiser classes.

Each reduced instance is the real diffusers class with small widths, run forward once on the CPU under
`torch.utils.flop_counter.FlopCounterMode`. Attention runs on PyTorch's math kernel: the fused CPU kernel
is invisible to the counter, the math kernel is counted as its two batched matmuls.
"""

from __future__ import annotations

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lib.architectures import flops, specs

_SMALL_UNET = {"block_out_channels": [32, 64, 64], "cross_attention_dim": 48, "norm_num_groups": 8, "sample_size": 16}
REDUCED = {
    "sd15": {
        **specs.SD15_UNET, **_SMALL_UNET, "attention_head_dim": 4,
        "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    },
    "sdxl": {
        **specs.SDXL_UNET, **_SMALL_UNET, "attention_head_dim": [2, 4, 4],
        "transformer_layers_per_block": [1, 2, 3], "addition_time_embed_dim": 8,
        "projection_class_embeddings_input_dim": 6 * 8 + 40,
    },
    "sd3": {
        **specs.SD3_TRANSFORMER, "num_layers": 3, "num_attention_heads": 2, "attention_head_dim": 16,
        "caption_projection_dim": 32, "joint_attention_dim": 40, "pooled_projection_dim": 24,
        "sample_size": 16, "pos_embed_max_size": 16,
    },
    "flux_schnell": {
        **specs.FLUX_SCHNELL_TRANSFORMER, "num_layers": 2, "num_single_layers": 3, "num_attention_heads": 2,
        "attention_head_dim": 16, "axes_dims_rope": [4, 6, 6], "joint_attention_dim": 40, "pooled_projection_dim": 24,
    },
}
LATENT_SIDE, N_TEXT = 16, 12


def _forward(model_key: str, config: dict):
    """The reduced model and a closure running one forward on one sample with random inputs (fixed seed)."""
    import diffusers

    cls = specs.MODELS[model_key].of_role("denoiser")[0].cls
    torch.manual_seed(0)
    model = getattr(diffusers, cls)(**config).eval()
    s, n = LATENT_SIDE, N_TEXT
    t = torch.tensor([10.0])
    if cls == "UNet2DConditionModel":
        x, ctx = torch.randn(1, 4, s, s), torch.randn(1, n, config["cross_attention_dim"])
        extra = {}
        if config.get("addition_embed_type") == "text_time":
            extra = {"added_cond_kwargs": {"text_embeds": torch.randn(1, 40), "time_ids": torch.randn(1, 6)}}
        return model, lambda: model(x, t, ctx, **extra)
    if cls == "SD3Transformer2DModel":
        x, ctx = torch.randn(1, 16, s, s), torch.randn(1, n, config["joint_attention_dim"])
        pooled = torch.randn(1, config["pooled_projection_dim"])
        return model, lambda: model(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=t)
    ni = (s // 2) ** 2
    x, ctx = torch.randn(1, ni, config["in_channels"]), torch.randn(1, n, config["joint_attention_dim"])
    pooled = torch.randn(1, config["pooled_projection_dim"])
    return model, lambda: model(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled,
                                timestep=t / 1000, img_ids=torch.zeros(ni, 3), txt_ids=torch.zeros(n, 3))


def counted_flops(model_key: str) -> int:
    """FLOPs PyTorch counts for one forward of the reduced instance of a model's denoiser."""
    _, run = _forward(model_key, REDUCED[model_key])
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


def analytic_flops(model_key: str) -> int:
    """FLOPs `flops` predicts for the same reduced instance and inputs."""
    cls = specs.MODELS[model_key].of_role("denoiser")[0].cls
    config = REDUCED[model_key]
    fn = {"UNet2DConditionModel": flops.unet_flops, "SD3Transformer2DModel": flops.sd3_flops}.get(cls, flops.flux_flops)
    return fn(config, LATENT_SIDE, N_TEXT).total


def check_table():
    """Analytic versus counted FLOPs of every reduced instance (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for key in REDUCED:
        a, c = analytic_flops(key), counted_flops(key)
        rows.append({"model (reduced instance)": specs.MODELS[key].name, "analytic (MFLOP)": round(a / 1e6, 2),
                     "FlopCounterMode (MFLOP)": round(c / 1e6, 2), "difference (%)": round(100 * (a / c - 1), 2)})
    return pd.DataFrame(rows).set_index("model (reduced instance)")
