"""lib.teaching's schedules and samplers equal diffusers' reference schedulers, number for number."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, FlowMatchEulerDiscreteScheduler

from lib.teaching import flow, samplers
from lib.teaching.schedules import SCHEDULES, NoiseSchedule


def _betas(kind: str) -> dict:
    """diffusers' betas for `kind` as the models that use it set them (SD 1.x: 0.00085 -> 0.012)."""
    return {"beta_start": 0.00085, "beta_end": 0.012} if kind == "scaled_linear" else {}


@pytest.mark.parametrize("kind", SCHEDULES)
def test_betas_and_alpha_bar_match_ddpm_scheduler(kind):
    ref = DDPMScheduler(beta_schedule=kind, **_betas(kind))
    ours = NoiseSchedule(kind)
    np.testing.assert_allclose(ours.betas.numpy(), ref.betas.numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(ours.alpha_bar.numpy(), ref.alphas_cumprod.numpy(), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("spacing", ["leading", "trailing"])
def test_timesteps_match_diffusers(spacing):
    ref = DDIMScheduler(timestep_spacing=spacing)
    ref.set_timesteps(50)
    assert samplers.timesteps(50, 1000, spacing) == ref.timesteps.tolist()


def _inputs(dim=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(4, dim, generator=g), torch.randn(4, dim, generator=g)


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_one_ddpm_step_matches_ddpm_scheduler(kind, prediction):
    x, out = _inputs()
    ref = DDPMScheduler(beta_schedule=kind, **_betas(kind), clip_sample=False, prediction_type=prediction)
    ref.set_timesteps(50)
    t, t_prev = int(ref.timesteps[10]), int(ref.timesteps[11])
    expected = ref.step(out, t, x, generator=torch.Generator().manual_seed(7)).prev_sample
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))  # the noise diffusers draws
    got = samplers.ddpm_step(NoiseSchedule(kind), out, t, t_prev, x, noise, prediction)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_last_ddpm_step_adds_no_noise():
    x, out = _inputs()
    s = NoiseSchedule()
    a = samplers.ddpm_step(s, out, 0, -1, x, torch.zeros_like(x))
    b = samplers.ddpm_step(s, out, 0, -1, x, torch.ones_like(x))
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_one_ddim_step_matches_ddim_scheduler(kind, eta):
    x, out = _inputs()
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    ref = DDIMScheduler(beta_schedule=kind, **_betas(kind), clip_sample=False)
    ref.set_timesteps(20)
    for i in (0, 7, 19):  # first, middle and last step (which jumps to alpha_bar = 1)
        t = int(ref.timesteps[i])
        t_prev = int(ref.timesteps[i + 1]) if i + 1 < 20 else -1
        expected = ref.step(out, t, x, eta=eta, variance_noise=noise).prev_sample
        got = samplers.ddim_step(NoiseSchedule(kind), out, t, t_prev, x, eta, noise)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("steps", [1, 4, 28])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_flow_sigmas_match_flow_match_euler_scheduler(steps, shift):
    ref = FlowMatchEulerDiscreteScheduler(shift=shift)  # shift=3.0: SD3's setting
    ref.set_timesteps(steps)
    np.testing.assert_allclose(flow.flow_sigmas(steps, shift), ref.sigmas.numpy(), rtol=1e-6, atol=1e-6)


def test_shift_matches_flow_match_euler_training_sigmas():
    ref = FlowMatchEulerDiscreteScheduler(shift=3.0)
    unshifted = np.linspace(1, 1000, 1000)[::-1] / 1000
    np.testing.assert_allclose(flow.shift_sigma(unshifted, 3.0), ref.sigmas.numpy(), rtol=1e-6)


def test_euler_step_matches_flow_match_euler_scheduler():
    x, v = _inputs()
    ref = FlowMatchEulerDiscreteScheduler(shift=3.0)
    ref.set_timesteps(8)
    expected = x
    for t in ref.timesteps:
        expected = ref.step(v, t, expected).prev_sample
    got = flow.euler_sample(lambda x_, t_: v, x, 8, sigmas=flow.flow_sigmas(8, 3.0))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("steps", [1, 2, 4, 28])
def test_teaching_euler_grid_spends_every_call_on_a_real_step(steps):
    sigmas = flow.euler_sigmas(steps).numpy()
    assert sigmas[0] == 1.0 and sigmas[-1] == 0.0 and len(sigmas) == steps + 1
    np.testing.assert_allclose(np.diff(sigmas), -1.0 / steps, rtol=1e-5)  # n equal steps, none wasted


def test_teaching_euler_grid_with_shift_is_the_shifted_uniform_grid():
    got = flow.euler_sigmas(4, shift=3.0).numpy()
    np.testing.assert_allclose(got, flow.shift_sigma(np.linspace(1, 0, 5), 3.0), rtol=1e-6)
    assert flow.flow_sigmas(2)[1] < 0.01  # diffusers' grid: the second of two calls only moves 0.001 -> 0
