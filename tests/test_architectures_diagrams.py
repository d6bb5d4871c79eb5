"""The U-Net diagram draws what the class builds: SD 1.5's mid block has cross-attention."""

import matplotlib.pyplot as plt

from lib.architectures import diagrams, params, specs


def test_mid_block_type_is_what_diffusers_builds_for_the_sd15_config():
    built = type(params.denoiser("sd15").mid_block).__name__
    assert diagrams.unet_mid_block_type(specs.SD15_UNET) == built == "UNetMidBlock2DCrossAttn"


def test_unet_figure_draws_the_mid_block_with_attention_and_without_when_the_config_says_so():
    def texts(config):
        fig = diagrams.unet_figure(config)
        out = [t.get_text() for t in fig.axes[0].texts]
        plt.close(fig)
        return out

    assert any(t.startswith("mid:") and "attn" in t for t in texts(specs.SD15_UNET))
    plain = {**specs.SD15_UNET, "mid_block_type": "UNetMidBlock2D"}
    assert any(t.startswith("mid:") and "no text" in t for t in texts(plain))
