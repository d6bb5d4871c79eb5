"""Samplers that run a trained denoiser backwards: DDPM ancestral and DDIM (chapter 1).

Both walk a decreasing list of timesteps t_0 > t_1 > ... > t_{n-1}, one network call (one NFE) each.
The step formulas are those of diffusers' `DDPMScheduler.step` and `DDIMScheduler.step`; the tests in
tests/test_teaching_equivalence.py check that they agree number for number.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from lib.teaching.schedules import NoiseSchedule, x0_eps

# A predictor maps (x_t, integer timesteps) to the network's raw output (eps, x0 or v).
Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SPACINGS = ("leading", "trailing")


class SamplerError(ValueError):
    """Bad sampler settings (step count, spacing, method); the message says which values work."""


def timesteps(n: int, T: int = 1000, spacing: str = "trailing") -> list[int]:
    """The n timesteps a sampler visits, largest first.

    "leading" is diffusers' default (0, T/n, 2T/n, ...): with few steps it never starts from pure noise
    (n = 1 gives t = 0). "trailing" ends at T-1, so every run starts from x_T, as recommended by
    Lin et al. (2024, "Common diffusion noise schedules and sample steps are flawed", table 2).
    """
    if not 1 <= n <= T:
        raise SamplerError(f"number of steps must be between 1 and T={T}, got {n}")
    if spacing == "leading":
        return [int(t) for t in (np.arange(n) * (T // n)).round()[::-1]]
    if spacing == "trailing":
        return [int(t) for t in (np.round(np.arange(T, 0, -T / n)) - 1).astype(int)]
    raise SamplerError(f"unknown spacing {spacing!r}: choose one of {', '.join(SPACINGS)}")


def _alpha_bars(schedule: NoiseSchedule, t: int, t_prev: int) -> tuple[float, float]:
    ab = schedule.alpha_bar
    return float(ab[t]), (float(ab[t_prev]) if t_prev >= 0 else 1.0)  # past the last step: alpha_bar = 1


def _x0_eps(prediction: str, output: torch.Tensor, x: torch.Tensor, a_t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat, eps_hat) from the network's output at a step with alpha_bar = a_t (float coefficients)."""
    return x0_eps(prediction, output, x, math.sqrt(a_t), math.sqrt(1 - a_t))


def ddpm_step(schedule: NoiseSchedule, output: torch.Tensor, t: int, t_prev: int, x: torch.Tensor,
              noise: torch.Tensor, prediction: str = "epsilon") -> torch.Tensor:
    """One ancestral step x_t -> x_{t_prev}: the mean of q(x_{t_prev} | x_t, x0_hat) plus fresh noise.

    Ho et al. (2020), eqs. 6-7, with the "fixed small" variance beta_tilde; t_prev may skip steps, in which
    case beta is the effective 1 - alpha_bar_t / alpha_bar_{t_prev}. The last step (t_prev < 0) adds no
    noise (diffusers adds sqrt(1e-20) times noise there). Chapter 1, "Sampling: DDPM and DDIM", shows the
    epsilon case as copyable code; tests/test_teaching_code.py checks that it computes exactly this.
    """
    a_t, a_prev = _alpha_bars(schedule, t, t_prev)
    beta = 1 - a_t / a_prev
    x0, _ = _x0_eps(prediction, output, x, a_t)
    c0 = math.sqrt(a_prev) * beta / (1 - a_t)
    ct = math.sqrt(1 - beta) * (1 - a_prev) / (1 - a_t)
    mean = c0 * x0 + ct * x
    if t_prev < 0:
        return mean
    return mean + math.sqrt((1 - a_prev) / (1 - a_t) * beta) * noise


def ddim_step(schedule: NoiseSchedule, output: torch.Tensor, t: int, t_prev: int, x: torch.Tensor,
              eta: float = 0.0, noise: torch.Tensor | None = None, prediction: str = "epsilon") -> torch.Tensor:
    """One DDIM step (Song et al. 2021, eq. 12): eta = 0 is deterministic, eta = 1 matches DDPM's variance.

    Chapter 1 shows the eta = 0, epsilon case as copyable code (checked in tests/test_teaching_code.py).
    """
    a_t, a_prev = _alpha_bars(schedule, t, t_prev)
    x0, eps = _x0_eps(prediction, output, x, a_t)
    if eta == 0:
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
    if noise is None:
        raise SamplerError("ddim_step with eta > 0 needs a noise tensor")
    sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
    direction = math.sqrt(max(1 - a_prev - sigma**2, 0.0)) * eps  # "direction pointing to x_t"
    return math.sqrt(a_prev) * x0 + direction + sigma * noise


def sample(predict: Predictor, schedule: NoiseSchedule, x_T: torch.Tensor, steps: int, method: str = "ddim",
           eta: float = 0.0, seed: int = 0, prediction: str = "epsilon", spacing: str = "trailing",
           trajectory: bool = False) -> torch.Tensor:
    """Run DDPM ("ddpm") or DDIM ("ddim") from x_T with `steps` network calls.

    Returns the samples, or with trajectory=True a tensor (steps + 1, n, dim) of every intermediate x.
    """
    if method not in ("ddpm", "ddim"):
        raise SamplerError(f"unknown method {method!r}: choose 'ddpm' or 'ddim'")
    gen = torch.Generator().manual_seed(seed)
    ts = timesteps(steps, schedule.T, spacing)
    x, path = x_T, [x_T]
    with torch.no_grad():
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            out = predict(x, torch.full((x.shape[0],), t, dtype=torch.long))
            noise = torch.randn(x.shape, generator=gen)
            if method == "ddpm":
                x = ddpm_step(schedule, out, t, t_prev, x, noise, prediction)
            else:
                x = ddim_step(schedule, out, t, t_prev, x, eta, noise, prediction)
            if trajectory:
                path.append(x)
    return torch.stack(path) if trajectory else x
