"""UNet-mini: diffusers' UNet2DConditionModel (the SD 1.5 design: convolutions, self-attention, and one-way
cross-attention from image to text) trained exactly as SD3-mini, for chapter 2's one-way vs two-way attention claim.

Same world, same autoencoder (SD3-mini's, read from its snapshot), same frozen encoders and prompt sequence (CLIP
and T5 tokens, as SD3's pipeline builds it), same objective and recipe (rectified flow, SD3's shift, T5 and prompt
dropout, lib.miniature.trained.sd3), same number of parameters (within 1 %), steps, batch and learning rate. What
differs is how text reaches the image:
- SD3's MMDiT (Esser et al. 2024, sec. 4) runs text tokens and image tokens through one joint attention in every
  block, so the text stream is updated by the image as well (two-way);
- the UNet (Rombach et al. 2022, sec. 3.3) keeps the text sequence fixed and lets image positions attend to it in
  cross-attention layers (one-way), at the two resolutions of its down and up blocks and in its middle block.
The pooled CLIP vector enters both the same way: added to the timestep embedding (SD3's adaLN input; SDXL's UNet
does the same with its "text_embeds"; SD 1.5 has no pooled input). The UNet runs inside the real
StableDiffusion3Pipeline through `CrossAttentionDenoiser`, so its sampling loop, guidance and decoding are SD3's.
"""

from __future__ import annotations

import torch

UNET_FOLDER = "unet"  # the trained snapshot's folder (precomputed/trained-miniatures/unet/unet)


def unet_config() -> dict:
    """Two resolutions (8 x 8 and 4 x 4 latents), one ResNet + cross-attention transformer per block, 2 heads of 32
    channels at the first level (SD3-mini's head width); the time embedding's width sets the parameter count to
    SD3-mini's (2,280,800 against 2,292,496)."""
    from lib.miniature.build import CLIP_G, CLIP_L, T5

    return dict(sample_size=8, in_channels=16, out_channels=16, block_out_channels=(64, 80), layers_per_block=1,
                down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), mid_block_type="UNetMidBlock2DCrossAttn",
                cross_attention_dim=T5["d_model"], attention_head_dim=2, norm_num_groups=16, time_embedding_dim=208,
                class_embed_type="projection",
                projection_class_embeddings_input_dim=CLIP_L["projection_dim"] + CLIP_G["projection_dim"])


class CrossAttentionDenoiser(torch.nn.Module):
    """A UNet2DConditionModel called as StableDiffusion3Pipeline calls its transformer: hidden_states, timestep,
    encoder_hidden_states (the CLIP + T5 token sequence) and pooled_projections (passed as the UNet's class
    embedding input, added to its timestep embedding)."""

    def __init__(self, unet):
        super().__init__()
        from diffusers.configuration_utils import FrozenDict

        self.unet = unet
        # what the pipeline reads of its transformer's config: latent channels, default size, patch (for the
        # token count of a dynamic shift), the width of the zeros that stand for a dropped T5
        self.config = FrozenDict(in_channels=unet.config.in_channels, sample_size=unet.config.sample_size,
                                 patch_size=1, joint_attention_dim=unet.config.cross_attention_dim)

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @property
    def device(self) -> torch.device:  # what DiffusionPipeline reads to place its latents
        return self.unet.device

    def forward(self, hidden_states, timestep, encoder_hidden_states, pooled_projections, return_dict: bool = True,
                **_):
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        out = self.unet(hidden_states, timestep, encoder_hidden_states=encoder_hidden_states,
                        class_labels=pooled_projections).sample
        return Transformer2DModelOutput(sample=out) if return_dict else (out,)


def new_denoiser(seed: int = 3) -> CrossAttentionDenoiser:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return CrossAttentionDenoiser(UNet2DConditionModel(**unet_config()))


def unet_pipeline(sd3_snapshot, unet_snapshot, t5: bool = True):
    """The StableDiffusion3Pipeline of SD3-mini's snapshot (encoders, tokenizers, scheduler, autoencoder) with the
    trained UNet in its transformer's place."""
    from diffusers import StableDiffusion3Pipeline, UNet2DConditionModel

    from lib.miniature import _quiet_progress_bars

    extra = {} if t5 else {"text_encoder_3": None, "tokenizer_3": None}
    with _quiet_progress_bars():
        unet = UNet2DConditionModel.from_pretrained(unet_snapshot, subfolder=UNET_FOLDER, dtype=torch.float32)
        parts = StableDiffusion3Pipeline.from_pretrained(sd3_snapshot, transformer=None, dtype=torch.float32,
                                                         **extra).components
    pipe = StableDiffusion3Pipeline(**{**parts, "transformer": CrossAttentionDenoiser(unet.eval())})
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_unet(out, denoiser: CrossAttentionDenoiser):
    """The UNet alone, in float16 (its encoders, scheduler and autoencoder are SD3-mini's snapshot)."""
    unet = denoiser.unet
    unet.to(torch.float16).save_pretrained(out / UNET_FOLDER)
    unet.to(torch.float32)
    return out
