"""The analytic FLOP count agrees with torch.utils.flop_counter on reduced instances of each denoiser class."""

import pytest

from lib.architectures import flop_check, flops


@pytest.mark.parametrize("model_key", list(flop_check.REDUCED))
def test_analytic_flops_match_flop_counter_on_reduced_instance(model_key):
    analytic, counted = flop_check.analytic_flops(model_key), flop_check.counted_flops(model_key)
    assert counted > 0
    assert abs(analytic / counted - 1) < 0.03


def test_cfg_doubles_the_step_and_flux_runs_one_pass():
    one = flops.step_flops("sd3", 512, cfg=False).total
    assert flops.step_flops("sd3", 512).total == 2 * one
    assert flops.step_flops("flux_schnell", 512, 512).total == flops.step_flops("flux_schnell", 512, 512, cfg=False).total


def test_step_cost_grows_faster_than_tokens_for_transformers():
    # attention is quadratic in the number of tokens N = image tokens + 512 text tokens
    small, large = flops.step_flops("flux_schnell", 512, 512).total, flops.step_flops("flux_schnell", 1024, 512).total
    n_small, n_large = (512 // 16) ** 2 + 512, (1024 // 16) ** 2 + 512
    assert large / small > n_large / n_small


def test_unknown_chip_raises():
    with pytest.raises(KeyError, match="use one of"):
        flops.seconds_lower_bound(1e12, "Apple M9")


def test_flux_schnell_step_is_counted_with_the_registry_t5_tokens():
    """FLUX.1-schnell runs with the preset's max_sequence_length (256), not FLUX.1-dev's 512."""
    from lib.registry import PRESETS

    tokens = PRESETS["flux-schnell"].max_sequence_length
    assert flops.text_tokens("flux_schnell") == tokens
    assert flops.step_flops("flux_schnell", 512).total == flops.step_flops("flux_schnell", 512, tokens).total
    assert flops.step_flops("flux_schnell", 512).total < flops.step_flops("flux_schnell", 512, 512).total
    assert flops.cost_table().loc["FLUX.1-schnell", "text tokens"] == tokens


def test_counts_are_flops_two_per_multiply_add():
    t = flops.Tally()
    t.lin(tokens=1, d_in=3, d_out=5)  # 15 multiply-adds
    assert t.linear == 30
