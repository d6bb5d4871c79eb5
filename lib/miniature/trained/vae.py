"""The trained miniatures' 16-channel AutoencoderKL, trained on the shapes world.

SD3 and FLUX.1 share the idea of a 16-channel latent (Esser et al. 2024, sec. 5.2.1: more channels, better
reconstructions); the miniature keeps the 16 channels and diffusers' AutoencoderKL, with three levels instead of
four (32x32 pixels -> 8x8 latents: a 4x downsampling, not 8x, so that a 32-pixel scene keeps 64 latent positions).
Loss: L1 reconstruction plus a small KL term, as the latent-diffusion autoencoders (Rombach et al. 2022) minus
their perceptual and adversarial terms, which flat-coloured shapes do not need.
FLUX-mini has its own autoencoder with two levels (a 2x downsampling: 32x32 pixels -> 16x16 latents), because
FLUX packs 2x2 latents into one token where SD3-mini uses patch size 1: both then see 64 tokens of 4x4 pixels.
The latents are then normalised as SD3 does (its vae config's shift_factor and scaling_factor): shift by their
mean, scale to unit variance.
"""

from __future__ import annotations

from pathlib import Path

import torch

VAE_CONFIG = dict(in_channels=3, out_channels=3, block_out_channels=(16, 32, 32), layers_per_block=1,
                  latent_channels=16, norm_num_groups=8, sample_size=32, use_quant_conv=False,
                  use_post_quant_conv=False, down_block_types=("DownEncoderBlock2D",) * 3,
                  up_block_types=("UpDecoderBlock2D",) * 3)
FLUX_VAE_CONFIG = {**VAE_CONFIG, "block_out_channels": (16, 32), "down_block_types": ("DownEncoderBlock2D",) * 2,
                   "up_block_types": ("UpDecoderBlock2D",) * 2}
KL_WEIGHT = 1e-4  # per latent value, against a per-pixel L1: keeps the latent near N(0, 1) without blurring
STEPS, BATCH, LR = 1500, 64, 2e-3


def to_tensor(images) -> torch.Tensor:
    """uint8 (n, h, w, 3) -> float (n, 3, h, w) in [-1, 1], the range diffusers' VAEs take."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_uint8(x: torch.Tensor):
    """to_tensor's inverse: float (n, 3, h, w) in [-1, 1], as a decoder returns it, -> uint8 (n, h, w, 3)."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def train_vae(images, work: Path, steps: int = STEPS, seed: int = 1, key: dict | None = None,
              config: dict | None = None, label: str = "autoencoder"):
    """A fitted AutoencoderKL (the weight average) and its Fit record, from uint8 images (n, 32, 32, 3)."""
    from diffusers import AutoencoderKL

    from lib.miniature.trained.loop import train

    torch.manual_seed(seed)
    vae = AutoencoderKL(**(config or VAE_CONFIG))
    x = to_tensor(images)

    def loss_fn(model, gen):
        xb = x[torch.randint(len(x), (BATCH,), generator=gen)]
        post = model.encode(xb).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=gen)
        rec = model.decode(z).sample.float()
        return (rec - xb).abs().mean() + KL_WEIGHT * post.kl().mean() / z[0].numel()

    fit = train(vae, loss_fn, steps=steps, lr=LR, seed=seed, work=work, label=label, ema_decay=0.99, key=key)
    return fit


@torch.no_grad()
def encode(vae, images, batch: int = 500) -> torch.Tensor:
    """Raw latent means (n, 16, h, w) of uint8 images."""
    out = [vae.encode(to_tensor(images[i:i + batch])).latent_dist.mean for i in range(0, len(images), batch)]
    return torch.cat(out)


def normalisation(latents: torch.Tensor) -> dict[str, float]:
    """SD3's latent normalisation for these latents: (z - shift_factor) * scaling_factor has mean 0, variance 1."""
    return {"shift_factor": round(float(latents.mean()), 6), "scaling_factor": round(float(1 / latents.std()), 6)}
