"""FLOPs of one denoising step, counted analytically from a model's configuration.

Counts are FLOPs, not multiply-adds: one multiply-add is 2 FLOPs, as `torch.utils.flop_counter` counts. A
matmul of (m x k) by (k x n) costs 2mkn, a convolution 2 * C_in * C_out * k^2 per output pixel, attention
4 * N_q * N_k * d (scores QK^T and their product with V).
Normalisations, activations and softmax are left out: they are a few percent at most and memory-bound.
A step with classifier-free guidance {cite}`ho2022cfg` runs the denoiser on two batch items.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.architectures import specs
from lib.architectures.latent import vae_downsampling


@dataclass
class Tally:
    """FLOPs by kind: 'conv', 'linear' (projections and MLPs), 'attention' (scores and weighted sum)."""

    conv: int = 0
    linear: int = 0
    attention: int = 0

    @property
    def total(self) -> int:
        return self.conv + self.linear + self.attention

    def lin(self, tokens: int, d_in: int, d_out: int) -> None:
        self.linear += 2 * tokens * d_in * d_out

    def cv(self, c_in: int, c_out: int, k: int, pixels_out: int) -> None:
        self.conv += 2 * c_in * c_out * k * k * pixels_out

    def attn(self, n_q: int, n_k: int, dim: int) -> None:
        self.attention += 4 * n_q * n_k * dim

    def scaled(self, n: int) -> "Tally":
        return Tally(self.conv * n, self.linear * n, self.attention * n)


def _per_level(value, n: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * n


def _transformer2d(t: Tally, c: int, hw: int, layers: int, cross_dim: int, n_text: int) -> None:
    """diffusers Transformer2DModel: proj_in, `layers` x (self-attn, cross-attn, GEGLU MLP), proj_out."""
    t.lin(hw, c, c)  # proj_in (a 1x1 conv or a linear: the same FLOPs)
    for _ in range(layers):
        t.lin(hw, c, 3 * c), t.attn(hw, hw, c), t.lin(hw, c, c)  # self-attention
        t.lin(hw, c, c), t.lin(n_text, cross_dim, 2 * c), t.attn(hw, n_text, c), t.lin(hw, c, c)  # cross-attention
        t.lin(hw, c, 8 * c), t.lin(hw, 4 * c, c)  # GEGLU feed-forward, inner 4c
    t.lin(hw, c, c)  # proj_out


def _resnet(t: Tally, c_in: int, c_out: int, hw: int, temb: int) -> None:
    t.cv(c_in, c_out, 3, hw)
    t.lin(1, temb, c_out)  # time_emb_proj, once per sample
    t.cv(c_out, c_out, 3, hw)
    if c_in != c_out:
        t.cv(c_in, c_out, 1, hw)  # conv_shortcut


def unet_flops(config: dict, latent_side: int, n_text: int = 77) -> Tally:
    """FLOPs of one UNet2DConditionModel forward on one sample, walked from its config like diffusers builds it."""
    boc, n_levels = config["block_out_channels"], len(config["block_out_channels"])
    lpb, cross = config["layers_per_block"], config["cross_attention_dim"]
    tlayers = _per_level(config.get("transformer_layers_per_block", 1), n_levels)
    c0, temb = boc[0], 4 * boc[0]
    t = Tally()
    t.lin(1, c0, temb), t.lin(1, temb, temb)  # time_embedding
    if config.get("addition_embed_type") == "text_time":  # SDXL: pooled text + size/crop conditioning
        t.lin(1, config["projection_class_embeddings_input_dim"], temb), t.lin(1, temb, temb)
    side = latent_side
    t.cv(config["in_channels"], c0, 3, side * side)
    skips, c = [c0], c0
    for i, kind in enumerate(config["down_block_types"]):
        for _ in range(lpb):
            _resnet(t, c, boc[i], side * side, temb)
            c = boc[i]
            if kind.startswith("CrossAttn"):
                _transformer2d(t, c, side * side, tlayers[i], cross, n_text)
            skips.append(c)
        if i < n_levels - 1:
            side //= 2
            t.cv(c, c, 3, side * side)  # Downsample2D, stride 2
            skips.append(c)
    _resnet(t, c, c, side * side, temb)  # mid block: resnet, transformer, resnet
    _transformer2d(t, c, side * side, tlayers[-1], cross, n_text)
    _resnet(t, c, c, side * side, temb)
    rev_tlayers = list(reversed(tlayers))
    for i, kind in enumerate(config["up_block_types"]):
        out = list(reversed(boc))[i]
        for _ in range(lpb + 1):
            _resnet(t, c + skips.pop(), out, side * side, temb)
            c = out
            if kind.startswith("CrossAttn"):
                _transformer2d(t, c, side * side, rev_tlayers[i], cross, n_text)
        if i < n_levels - 1:
            side *= 2
            t.cv(c, c, 3, side * side)  # Upsample2D: nearest 2x, then a 3x3 conv
    t.cv(c0, config["out_channels"], 3, side * side)
    return t


def sd3_flops(config: dict, latent_side: int, n_text: int = 77 + 256) -> Tally:
    """FLOPs of one SD3Transformer2DModel forward on one sample: per block 24 N D^2 + 4 N^2 D FLOPs (12 N D^2 +
    2 N^2 D multiply-adds), plus embedders."""
    p, c = config["patch_size"], config["in_channels"]
    d = config["num_attention_heads"] * config["attention_head_dim"]
    ni = (latent_side // p) ** 2
    n = ni + n_text
    t = Tally()
    t.cv(c, d, p, ni)  # patch embedding
    t.lin(1, 256, d), t.lin(1, d, d), t.lin(1, config["pooled_projection_dim"], d), t.lin(1, d, d)
    t.lin(n_text, config["joint_attention_dim"], config["caption_projection_dim"])  # context_embedder
    for i in range(config["num_layers"]):
        last = i == config["num_layers"] - 1  # the last block only reads the text (context_pre_only)
        t.lin(1, d, 6 * d), t.lin(1, d, 2 * d if last else 6 * d)  # adaLN modulation, image and text
        t.lin(n, d, 3 * d), t.attn(n, n, d)  # q, k, v of both streams; joint attention
        t.lin(ni if last else n, d, d)  # output projections
        t.lin(ni if last else n, d, 8 * d)  # MLPs, 4x expansion: d->4d->d
    t.lin(1, d, 2 * d), t.lin(ni, d, p * p * config["out_channels"])  # norm_out, proj_out
    return t


def flux_flops(config: dict, latent_side: int, n_text: int = 512) -> Tally:
    """FLOPs of one FluxTransformer2DModel forward on one sample: double-stream then single-stream blocks."""
    d = config["num_attention_heads"] * config["attention_head_dim"]
    ni = (latent_side // 2) ** 2  # FLUX packs 2x2 latent patches into 64-channel tokens
    n = ni + n_text
    t = Tally()
    t.lin(ni, config["in_channels"], d)  # x_embedder
    t.lin(1, 256, d), t.lin(1, d, d)  # timestep embedder
    t.lin(1, config["pooled_projection_dim"], d), t.lin(1, d, d)  # pooled CLIP text embedder
    if config.get("guidance_embeds"):  # FLUX.1-dev: guidance embedder
        t.lin(1, 256, d), t.lin(1, d, d)
    t.lin(n_text, config["joint_attention_dim"], d)  # context_embedder
    for _ in range(config["num_layers"]):  # double-stream (MMDiT) blocks
        t.lin(2, d, 6 * d)  # adaLN modulation of both streams
        t.lin(n, d, 3 * d), t.attn(n, n, d), t.lin(n, d, d), t.lin(n, d, 8 * d)
    for _ in range(config["num_single_layers"]):  # single-stream blocks: attention and MLP in parallel
        t.lin(1, d, 3 * d)
        t.lin(n, d, 3 * d + 4 * d), t.attn(n, n, d), t.lin(n, 5 * d, d)
    t.lin(1, d, 2 * d), t.lin(ni, d, config["in_channels"])  # norm_out, proj_out
    return t


def step_flops(model_key: str, image_side: int, n_text: int | None = None, cfg: bool | None = None) -> Tally:
    """FLOPs of one denoising step of a model of `specs.MODELS` at image_side^2 pixels (CFG: two passes)."""
    spec = specs.MODELS[model_key]
    den = spec.of_role("denoiser")[0]
    side = image_side // vae_downsampling(spec.of_role("vae")[0].config)
    n_text = n_text or text_tokens(model_key)
    if den.cls == "UNet2DConditionModel":
        one, default_cfg = unet_flops(den.config, side, n_text), True
    elif den.cls == "SD3Transformer2DModel":
        one, default_cfg = sd3_flops(den.config, side, n_text), True
    else:
        one, default_cfg = flux_flops(den.config, side, n_text), False
    return one.scaled(2 if (default_cfg if cfg is None else cfg) else 1)


# Peak GPU throughput (FP32 TFLOPS) of two Apple chips, kept with where the figure comes from. Apple states the
# M1's; for the M2 Apple states no TFLOPS at all, so its figure is Wikipedia's (unverified), checked against
# Apple's own claim of a GPU "up to 35% faster" than the M1's (M2_OVER_M1_GPU).
CHIPS = {
    "Apple M1 (8-core GPU)": (2.6, "Apple Newsroom, 'Apple unleashes M1', 10 Nov 2020: '2.6 teraflops of throughput'"),
    "Apple M2 (10-core GPU)": (3.6, "Wikipedia, 'Apple M2', GPU table (FP32, 10-core GPU); unverified: Apple "
                                    "publishes no TFLOPS figure for the M2"),
}
M2_OVER_M1_GPU = 1.35  # Apple at the M2's launch (WWDC, 6 June 2022): GPU up to 35% faster than the M1's


def seconds_lower_bound(flop: float, chip: str) -> float:
    """Seconds a step needs at least on `chip`: FLOPs over its published peak (real kernels reach a fraction of it)."""
    if chip not in CHIPS:
        raise KeyError(f"unknown chip {chip!r}; use one of {list(CHIPS)}")
    return flop / (CHIPS[chip][0] * 1e12)


# Models of the cost table; each runs with the text tokens of its pipeline default (specs.MODELS[key].tokens:
# FLUX.1-schnell's 256 T5 tokens come from lib.registry's max_sequence_length).
COST_CASES = ("sd15", "sdxl", "sd3", "flux_schnell")


def text_tokens(model_key: str) -> int:
    """Text tokens the denoiser attends to in one step, as the model's pipeline runs it by default."""
    spec = specs.MODELS[model_key]
    den = spec.of_role("denoiser")[0]
    if den.cls == "UNet2DConditionModel":
        return 77
    if den.cls == "SD3Transformer2DModel":  # CLIP-L and CLIP-G side by side (77) + T5
        return 77 + spec.tokens["T5-XXL"]
    return spec.tokens["T5-XXL"]  # FLUX attends to T5 only; CLIP enters as the pooled vector


def cost_table(sides: tuple[int, ...] = (512, 1024), chip: str = "Apple M2 (10-core GPU)"):
    """TFLOP per denoising step (CFG as each model is run) and the lower bound in seconds on `chip` (DataFrame)."""
    import pandas as pd

    rows = []
    for key in COST_CASES:
        spec = specs.MODELS[key]
        row = {"model": spec.name, "text tokens": text_tokens(key),
               "passes per step": 1 if key.startswith("flux") else 2}
        for side in sides:
            f = step_flops(key, side).total
            row[f"TFLOP/step @{side}²"] = round(f / 1e12, 2)
            row[f"s/step ≥ @{side}² ({chip.split(' (')[0]})"] = round(seconds_lower_bound(f, chip), 2)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
