"""The forward process: iterating single noising steps reaches the closed form q(x_t | x0)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.teaching import flow, samplers
from lib.teaching.schedules import NoiseSchedule, ScheduleError, make_betas


@pytest.mark.parametrize("kind", ["linear", "squaredcos_cap_v2"])
def test_iterated_steps_match_closed_form_moments(kind):
    s = NoiseSchedule(kind)
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([[1.5, -0.5]]).repeat(20000, 1)
    x, t = x0.clone(), 300
    for step in range(t + 1):  # steps 0..t, i.e. alpha_bar[t] after the loop
        x = s.q_step(x, step, torch.randn(x.shape, generator=g))
    ab = float(s.alpha_bar[t])
    np.testing.assert_allclose(x.mean(0).numpy(), np.sqrt(ab) * x0[0].numpy(), atol=0.03)
    np.testing.assert_allclose(x.var(0).numpy(), [1 - ab] * 2, rtol=0.05)


def test_q_sample_uses_alpha_bar_of_each_row():
    s = NoiseSchedule()
    x0, noise = torch.ones(2, 3), torch.zeros(2, 3)
    out = s.q_sample(x0, torch.tensor([0, 999]), noise)
    torch.testing.assert_close(out[:, 0], s.alpha_bar[[0, 999]].sqrt().float())


@pytest.mark.parametrize("prediction", ["epsilon", "sample", "v_prediction"])
def test_each_prediction_target_recovers_x0_and_eps(prediction):
    s = NoiseSchedule("squaredcos_cap_v2")
    g = torch.Generator().manual_seed(1)
    x0, eps, t = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g), torch.tensor([3, 100, 500, 900, 990])
    x_t = s.q_sample(x0, t, eps)
    x0_hat, eps_hat = s.to_x0_eps(prediction, s.target(prediction, x0, eps, t), x_t, t)
    torch.testing.assert_close(x0_hat, x0, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(eps_hat, eps, rtol=1e-3, atol=1e-3)


def test_unknown_schedule_and_bad_steps_raise_clear_errors():
    with pytest.raises(ScheduleError, match="choose one of"):
        make_betas("quadratic")
    with pytest.raises(samplers.SamplerError, match="between 1 and"):
        samplers.timesteps(0)


def test_ddim_with_the_exact_eps_of_a_point_mass_returns_it_in_one_step():
    s, target = NoiseSchedule(), torch.tensor([[0.7, -1.2]])

    def exact_eps(x, t):  # data = one point: eps is determined by x_t
        a, b = s.coefficients(t)
        return (x - a * target) / b

    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    out = samplers.sample(exact_eps, s, x_T, 1, "ddim")
    torch.testing.assert_close(out, target.expand(8, 2), rtol=1e-4, atol=1e-4)


def test_euler_on_the_straight_path_of_a_point_mass_is_exact_and_straight():
    target = torch.tensor([[0.7, -1.2]])
    velocity = lambda x, t: (x - target) / t.reshape(-1, 1)  # eps - x0 with x_t = (1-t) x0 + t eps
    x1 = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    path = flow.euler_sample(velocity, x1, 1, trajectory=True)
    torch.testing.assert_close(path[-1], target.expand(8, 2))
    assert flow.straightness(path) == pytest.approx(0.0, abs=1e-10)
    assert flow.path_length_ratio(path) == pytest.approx(1.0)


def test_straightness_of_a_bent_path_is_positive():
    bent = torch.tensor([[[0.0, 0.0]], [[1.0, 1.0]], [[2.0, 0.0]]])
    assert flow.straightness(bent) > 0.5
    assert flow.path_length_ratio(bent) > 1.4
