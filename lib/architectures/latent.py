"""Chapter 2, "The VAE and the latent space": from pixels to a latent grid to the tokens a transformer reads.

Every number comes from the published configurations in `lib.architectures.specs`: the VAE's downsampling
is 2 per down block after the first (diffusers pipelines compute `vae_scale_factor =
2 ** (len(vae.config.block_out_channels) - 1)`), its latent channels are `latent_channels`, and the
transformer's patch is `patch_size` (SD3) or, for FLUX, the 2x2 packing its pipeline applies before the
transformer (`in_channels` = 4 x the VAE's channels). Latent diffusion: {cite}`rombach2022ldm`; the
16-channel VAE: {cite}`esser2024sd3`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lib.architectures import specs

LATENT_MODELS = ("sd15", "sd3", "flux_schnell")


def vae_downsampling(vae_config: dict) -> int:
    """Pixels per latent cell along one side: each down block but the last halves the resolution."""
    return 2 ** (len(vae_config["block_out_channels"]) - 1)


def patch_side(model_key: str) -> int:
    """Latent cells per token along one side: 1 for a U-Net (it attends over every latent position)."""
    arch = specs.MODELS[model_key]
    den, vae = arch.of_role("denoiser")[0], arch.of_role("vae")[0]
    if den.cls == "UNet2DConditionModel":
        return 1
    if den.cls == "FluxTransformer2DModel":  # FluxPipeline._pack_latents: 2x2 cells -> one 4C-channel token
        return math.isqrt(den.config["in_channels"] // vae.config["latent_channels"])
    return den.config["patch_size"]


@dataclass(frozen=True)
class LatentLayout:
    """What an image of `image_side`^2 pixels becomes on its way into one model's denoiser."""

    model: str
    image_side: int
    downsampling: int
    latent_side: int
    channels: int
    patch: int
    scaling_factor: float
    shift_factor: float

    @property
    def tokens(self) -> int:
        """Image tokens of the denoiser (latent positions of a U-Net's finest level)."""
        return (self.latent_side // self.patch) ** 2

    @property
    def token_width(self) -> int:
        """Numbers per token before the input projection: channels x patch x patch."""
        return self.channels * self.patch**2

    @property
    def compression(self) -> float:
        """Pixel values (3 per pixel) per latent value."""
        return 3 * self.image_side**2 / (self.channels * self.latent_side**2)


def layout(model_key: str, image_side: int) -> LatentLayout:
    """The latent layout of `model_key` (a key of specs.MODELS) at image_side^2 pixels."""
    arch = specs.MODELS[model_key]
    vae = arch.of_role("vae")[0].config
    f = vae_downsampling(vae)
    if image_side % (f * patch_side(model_key)):
        raise ValueError(f"{arch.name} needs an image side that is a multiple of {f * patch_side(model_key)}")
    return LatentLayout(arch.name, image_side, f, image_side // f, vae["latent_channels"], patch_side(model_key),
                        vae["scaling_factor"], vae.get("shift_factor") or 0.0)


def normalize(z: np.ndarray, lay: LatentLayout) -> np.ndarray:
    """What the denoiser sees: (z - shift) x scale, as diffusers' SD3 and FLUX pipelines encode."""
    return (z - lay.shift_factor) * lay.scaling_factor


def denormalize(x: np.ndarray, lay: LatentLayout) -> np.ndarray:
    """What the VAE decoder gets back: x / scale + shift (the pipelines' step before `vae.decode`)."""
    return x / lay.scaling_factor + lay.shift_factor


def latent_table(sides: tuple[int, ...] = (512, 1024), models: tuple[str, ...] = LATENT_MODELS):
    """One row per model and image side: latent grid, patch, tokens, numbers per token, scaling and shift."""
    import pandas as pd

    rows = []
    for key in models:
        for side in sides:
            lay = layout(key, side)
            rows.append({
                "model": lay.model, "image": f"{side}²",
                "latent": f"{lay.latent_side}²×{lay.channels}",
                "compression": round(lay.compression),  # pixel values per latent value
                "patch": f"{lay.patch}×{lay.patch}", "tokens": f"{lay.tokens:,}",
                "token width": lay.token_width,
                "scale": lay.scaling_factor, "shift": lay.shift_factor,
            })
    return pd.DataFrame(rows).set_index(["model", "image"])


def sample_picture(side: int) -> np.ndarray:
    """A synthetic RGB picture in [0, 1] (sky, sun, hills): something to cut into cells, not a model output."""
    y, x = np.mgrid[0:side, 0:side] / side
    img = np.stack([0.35 + 0.4 * y, 0.55 + 0.3 * y, 0.95 - 0.2 * y], axis=-1)  # sky, lighter near the horizon
    sun = (x - 0.72) ** 2 + (y - 0.28) ** 2 < 0.012
    img[sun] = (1.0, 0.85, 0.3)
    for height, amp, freq, color in ((0.62, 0.06, 7, (0.3, 0.55, 0.3)), (0.75, 0.05, 11, (0.2, 0.42, 0.22))):
        img[y > height + amp * np.sin(freq * x)] = color
    return img


def _cells(img: np.ndarray, n: int) -> np.ndarray:
    """Average `img` over an n x n grid of cells (what one latent position or token summarises)."""
    s = img.shape[0] // n
    return img[: n * s, : n * s].reshape(n, s, n, s, -1).mean(axis=(1, 3))


def latent_figure(model_key: str = "flux_schnell", image_side: int = 512):
    """Image -> latent grid -> patch tokens, drawn to scale for one model (matplotlib)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import ConnectionPatch, Rectangle

    lay = layout(model_key, image_side)
    img = sample_picture(image_side)
    grid, tok = _cells(img, lay.latent_side), _cells(img, lay.latent_side // lay.patch)
    fig, axes = plt.subplots(1, 3, figsize=(11, 4.2))
    panels = (
        (img, f"image: {image_side}×{image_side} px × 3 colours",
         f"one latent cell per {lay.downsampling}×{lay.downsampling} pixels"),
        (grid, f"latent: {lay.latent_side}×{lay.latent_side} cells × {lay.channels} channels",
         f"{lay.compression:.0f} pixel values per latent value"),
        (tok, f"{lay.tokens:,} tokens ({lay.latent_side // lay.patch}×{lay.latent_side // lay.patch})",
         f"each {lay.patch}×{lay.patch} cells × {lay.channels} ch = {lay.token_width} numbers"),
    )
    for ax, (pic, title, note) in zip(axes, panels):
        ax.imshow(pic, interpolation="nearest", extent=(0, 1, 1, 0))
        ax.set_title(title, fontsize=10, pad=16), ax.set_xlabel(note, fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    depth = 0.1  # the channels, stacked behind the front one
    for i in range(1, lay.channels):
        d = depth * i / lay.channels
        axes[1].add_patch(Rectangle((d, -d), 1, 1, fill=False, lw=0.4, ec="0.45", clip_on=False, zorder=-i))
    axes[1].set_title(panels[1][1], fontsize=10, y=1 + depth, pad=6)  # above the stack
    n_tok = lay.latent_side // lay.patch
    for k in range(1, n_tok):  # token borders
        axes[2].axhline(k / n_tok, color="white", lw=0.25), axes[2].axvline(k / n_tok, color="white", lw=0.25)
    fig.tight_layout(w_pad=5)
    for a, b, gap, label in ((axes[0], axes[1], 0.02, f"VAE encoder\n÷{lay.downsampling} per side"),
                             (axes[1], axes[2], 0.02 + depth, f"{lay.patch}×{lay.patch} patches\n→ tokens")):
        fig.add_artist(ConnectionPatch((1 + gap, 0.5), (-0.04, 0.5), "axes fraction", "axes fraction", axesA=a,
                                       axesB=b, arrowstyle="-|>", lw=1.5, color="black"))
        pa, pb = a.get_position(), b.get_position()
        x_mid = (pa.x1 + gap * pa.width + pb.x0) / 2
        fig.text(x_mid, pa.y0 + 0.56 * pa.height, label, ha="center", va="bottom", fontsize=8)
    return fig
