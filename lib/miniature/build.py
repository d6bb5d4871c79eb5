"""Tiny SD3 and FLUX.1-schnell pipelines: the real diffusers/transformers classes with random weights.

Same components, same wiring as the published snapshots (three text encoders for SD3, CLIP + T5 for FLUX,
16-channel VAEs, flow-matching Euler schedulers), with widths of tens instead of thousands so that a
64x64, 4-step image takes a fraction of a second on a CPU. Their pictures are noise-like: random weights.
Sizes follow diffusers' own pipeline tests (tests/pipelines/stable_diffusion_3, tests/pipelines/flux),
except that FLUX's inner dim is 256 (2 heads x 128) so that every big matrix can hold K-quant blocks.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lib.architectures import specs
from lib.miniature.tokenizers import clip_vocab_size, write_clip_tokenizer, write_t5_tokenizer
from lib.registry import PRESETS

SEED = 0
_SD3, _SCHNELL = PRESETS["sd3-medium"], PRESETS["flux-schnell"]
CLIP_L = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, projection_dim=32)
CLIP_G = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, projection_dim=64)
T5 = dict(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4)
# FLUX.1-schnell (specs.FLUX_SCHNELL_TRANSFORMER) has 19 double + 38 single blocks of 24 heads; here 1 + 1
# blocks of 2 heads (each dequantized at every step: keep it small). Patch size, channels, head dim (128, so the
# inner dim 256 holds K-quant blocks), RoPE axes (summing to the head dim) and the absent guidance embedder
# are the real model's.
_REAL_FLUX = {k: specs.FLUX_SCHNELL_TRANSFORMER[k] for k in ("patch_size", "in_channels", "attention_head_dim",
                                                              "guidance_embeds")}
_REAL_FLUX["axes_dims_rope"] = tuple(specs.FLUX_SCHNELL_TRANSFORMER["axes_dims_rope"])
FLUX_TRANSFORMER = dict(**_REAL_FLUX, num_layers=1, num_single_layers=1, num_attention_heads=2,
                        joint_attention_dim=T5["d_model"], pooled_projection_dim=CLIP_L["hidden_size"])
# SD3 Medium (specs.SD3_TRANSFORMER) has 24 MMDiT blocks of 24 heads x 64; here 2 blocks of 4 x 8, with the
# real patch size and latent channels.
_REAL_SD3 = {k: specs.SD3_TRANSFORMER[k] for k in ("patch_size", "in_channels", "out_channels")}
SD3_TRANSFORMER = dict(**_REAL_SD3, sample_size=8, num_layers=2, attention_head_dim=8, num_attention_heads=4,
                       caption_projection_dim=32, joint_attention_dim=T5["d_model"],
                       pooled_projection_dim=CLIP_L["projection_dim"] + CLIP_G["projection_dim"],
                       pos_embed_max_size=32)
# Four VAE levels give the real models' 8x downsampling (64x64 pixels -> 8x8 latents).
VAE = dict(in_channels=3, out_channels=3, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
           latent_channels=16, norm_num_groups=4, sample_size=64, use_quant_conv=False,
           use_post_quant_conv=False,
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
# Latent normalisation constants of the real 16-channel VAEs (their vae/config.json, in lib.architectures.specs).
_NORM = ("scaling_factor", "shift_factor")
SD3_VAE_NORM = {k: specs.VAE_16CH_SD3[k] for k in _NORM}
FLUX_VAE_NORM = {k: specs.VAE_16CH_FLUX[k] for k in _NORM}
# Scheduler configs as published, shifts from the registry: SD3 Medium shifts its flow-matching timesteps;
# FLUX.1-schnell (timestep-distilled) does not; its published values for the unused dynamic shift equal
# diffusers' defaults.
SD3_SCHEDULER = dict(num_train_timesteps=1000, shift=_SD3.scheduler_shift)
FLUX_SCHEDULER = dict(num_train_timesteps=1000, shift=_SCHNELL.scheduler_shift,
                      use_dynamic_shifting=_SCHNELL.dynamic_shifting, base_shift=0.5, max_shift=1.15,
                      base_image_seq_len=256, max_image_seq_len=4096)


def _clip(cfg: dict, with_projection: bool, tokenizer_dir: Path):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tokenizer_dir)
    config = CLIPTextConfig(**cfg, vocab_size=clip_vocab_size(), max_position_embeddings=77, hidden_act="gelu",
                            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)
    model = (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)
    return model.eval(), tok


def _t5(tokenizer_dir: Path):
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    tok = T5Tokenizer.from_pretrained(tokenizer_dir)
    config = T5Config(**T5, vocab_size=len(tok), decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    return T5EncoderModel(config).eval(), tok


def _vae(norm: dict):
    from diffusers import AutoencoderKL

    return AutoencoderKL(**VAE, **norm).eval()


def build_sd3(out_dir: Path, tokenizers_dir: Path) -> Path:
    """Save a tiny StableDiffusion3Pipeline (CLIP-L, CLIP-G, T5, MMDiT, VAE) like a hub snapshot."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline

    torch.manual_seed(SEED)
    clip_l, tok_l = _clip(CLIP_L, True, tokenizers_dir / "clip")
    clip_g, tok_g = _clip(CLIP_G, True, tokenizers_dir / "clip")
    t5, tok_t5 = _t5(tokenizers_dir / "t5")
    pipe = StableDiffusion3Pipeline(
        transformer=SD3Transformer2DModel(**SD3_TRANSFORMER).eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(**SD3_SCHEDULER),
        vae=_vae(SD3_VAE_NORM),
        text_encoder=clip_l, tokenizer=tok_l,
        text_encoder_2=clip_g, tokenizer_2=tok_g,
        text_encoder_3=t5, tokenizer_3=tok_t5,
    )
    pipe.save_pretrained(out_dir)
    return out_dir


def build_flux(out_dir: Path, tokenizers_dir: Path) -> Path:
    """Save a tiny schnell-like FluxPipeline (CLIP-L, T5, FLUX transformer without guidance embedder, VAE)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(SEED + 1)
    clip, tok = _clip(CLIP_L, False, tokenizers_dir / "clip")
    t5, tok_t5 = _t5(tokenizers_dir / "t5")
    pipe = FluxPipeline(
        transformer=FluxTransformer2DModel(**FLUX_TRANSFORMER).eval(),
        scheduler=FlowMatchEulerDiscreteScheduler(**FLUX_SCHEDULER),
        vae=_vae(FLUX_VAE_NORM),
        text_encoder=clip, tokenizer=tok,
        text_encoder_2=t5, tokenizer_2=tok_t5,
    )
    pipe.save_pretrained(out_dir)
    return out_dir


def build_tokenizers(out_dir: Path) -> Path:
    """The shared local tokenizers: out_dir/clip and out_dir/t5."""
    write_clip_tokenizer(out_dir / "clip")
    write_t5_tokenizer(out_dir / "t5")
    return out_dir
