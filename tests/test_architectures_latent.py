"""The latent layout of chapter 2 equals what diffusers' own VAE, FLUX packing and SD3 patch embedding produce."""

import numpy as np
import pytest
import torch

from lib.architectures import latent, specs


def test_vae_downsampling_equals_a_real_autoencoder_with_the_same_blocks():
    from diffusers import AutoencoderKL

    cfg = specs.VAE_16CH_FLUX
    n = len(cfg["block_out_channels"])
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=cfg["latent_channels"],
                        block_out_channels=[8] * n, down_block_types=cfg["down_block_types"],
                        up_block_types=cfg["up_block_types"], layers_per_block=1, norm_num_groups=4)
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mean
    assert tuple(z.shape) == (1, cfg["latent_channels"], 64 // latent.vae_downsampling(cfg), 64 // latent.vae_downsampling(cfg))


@pytest.mark.parametrize("side", [512, 1024])
def test_flux_tokens_equal_the_pipelines_packing(side):
    from diffusers import FluxPipeline

    lay = latent.layout("flux_schnell", side)
    z = torch.zeros(1, lay.channels, lay.latent_side, lay.latent_side)
    packed = FluxPipeline._pack_latents(z, 1, lay.channels, lay.latent_side, lay.latent_side)
    assert tuple(packed.shape) == (1, lay.tokens, lay.token_width)
    assert lay.token_width == specs.FLUX_SCHNELL_TRANSFORMER["in_channels"]


def test_sd3_tokens_equal_its_patch_embedding():
    from diffusers.models.embeddings import PatchEmbed

    lay = latent.layout("sd3", 512)
    cfg = specs.SD3_TRANSFORMER
    embed = PatchEmbed(height=lay.latent_side, width=lay.latent_side, patch_size=cfg["patch_size"],
                       in_channels=cfg["in_channels"], embed_dim=8, pos_embed_max_size=cfg["pos_embed_max_size"])
    with torch.no_grad():
        out = embed(torch.zeros(1, lay.channels, lay.latent_side, lay.latent_side))
    assert out.shape[1] == lay.tokens == 1024


def test_sixteen_channels_quarter_the_compression_of_four():
    sd15, flux = latent.layout("sd15", 512), latent.layout("flux_schnell", 512)
    assert (sd15.channels, flux.channels) == (4, 16)
    assert sd15.compression == 4 * flux.compression == 48


def test_normalisation_is_undone_by_the_decoder_side_and_reads_the_vae_config():
    lay = latent.layout("flux_schnell", 512)
    assert (lay.scaling_factor, lay.shift_factor) == (specs.VAE_16CH_FLUX["scaling_factor"],
                                                      specs.VAE_16CH_FLUX["shift_factor"])
    z = np.random.default_rng(0).standard_normal((16, 4, 4)) / lay.scaling_factor + lay.shift_factor
    x = latent.normalize(z, lay)
    assert abs(x.mean()) < 0.3 and abs(x.std() - 1) < 0.2
    np.testing.assert_allclose(latent.denormalize(x, lay), z)


def test_an_image_side_that_does_not_fill_whole_patches_is_refused():
    with pytest.raises(ValueError, match="multiple of 16"):
        latent.layout("flux_schnell", 520)


def test_latent_figure_has_three_panels():
    import matplotlib.pyplot as plt

    fig = latent.latent_figure("flux_schnell", 512)
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["image", "latent", "1,024 tokens (32×32)"]
    plt.close(fig)
