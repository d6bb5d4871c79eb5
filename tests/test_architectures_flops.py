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
