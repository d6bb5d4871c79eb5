"""Flow matching on the straight path and rectified flow (chapter 3).

Path (Lipman et al. 2023; Liu et al. 2023): x_t = (1 - t) x0 + t eps, t in [0, 1], t = 1 is pure noise.
Its velocity is d x_t / dt = eps - x0, which the network learns to predict; sampling integrates the ODE
from t = 1 to 0 with Euler steps. `flow_sigmas` is diffusers' `FlowMatchEulerDiscreteScheduler` grid
(SD3: shift = 3), checked in tests/test_teaching_equivalence.py; the teaching samplers use `euler_sigmas`,
the same shift on an evenly spaced grid that ends at 0, so that n network calls are n useful steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

# A velocity field maps (x_t, t as floats in [0, 1]) to the predicted velocity eps - x0.
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class FlowError(ValueError):
    """Bad flow-matching settings; the message says which values work."""


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The rectified-flow path x_t = (1 - t) x0 + t eps (Esser et al. 2024, eq. 3 with a_t = 1 - t, b_t = t)."""
    t = t.reshape(-1, 1)
    return (1 - t) * x0 + t * noise


def shift_sigma(sigma: np.ndarray | torch.Tensor | float, shift: float) -> np.ndarray | torch.Tensor | float:
    """SD3's timestep shift sigma' = shift sigma / (1 + (shift - 1) sigma): more steps at high noise.

    Esser et al. (2024), section 5.3.2: at higher resolution more pixels carry the same signal, so the same
    sigma destroys less of the image; shifting towards sigma = 1 compensates (shift = 3 for SD3 at 1024 px).
    """
    if shift <= 0:
        raise FlowError(f"shift must be positive, got {shift}")
    return shift * sigma / (1 + (shift - 1) * sigma)


def flow_sigmas(steps: int, shift: float = 1.0, T: int = 1000) -> np.ndarray:
    """The steps + 1 noise levels diffusers' Euler scheduler visits, from 1 to 0 (SD3's and FLUX's grid).

    diffusers' FlowMatchEulerDiscreteScheduler.set_timesteps spaces sigmas linearly from 1 to its smallest
    training sigma, which is already shifted, and then shifts the whole grid again; we do the same so the
    grids agree exactly. The last value is 0: the final step lands on the data. With few steps this grid
    wastes a call: `flow_sigmas(2)` is [1, 0.001, 0], whose second step only moves from 0.001 to 0. The
    teaching samplers of chapter 3 therefore use `euler_sigmas`.
    """
    if steps < 1:
        raise FlowError(f"steps must be at least 1, got {steps}")
    sigma_min = shift_sigma(1.0 / T, shift)
    sigmas = shift_sigma(np.linspace(1.0, sigma_min, steps), shift)
    return np.append(sigmas, 0.0).astype(np.float32)


def euler_sigmas(steps: int, shift: float = 1.0) -> torch.Tensor:
    """steps + 1 noise levels from 1 to 0, equally spaced before the shift: n steps are n useful Euler steps.

    Chapter 3, section "A straight path from data to noise". Unlike `flow_sigmas` (diffusers' grid), no
    step is spent between the smallest training sigma and 0.
    """
    if steps < 1:
        raise FlowError(f"steps must be at least 1, got {steps}")
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    return sigmas if shift == 1.0 else shift_sigma(sigmas, shift)


def logit_normal_t(n: int, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times t = sigmoid(u), u ~ N(mean, std): SD3's choice, weighting middle noise levels (sec. 3.1)."""
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator))


def euler_sample(velocity: Velocity, x1: torch.Tensor, steps: int, shift: float = 1.0,
                 trajectory: bool = False, sigmas: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
    """Integrate dx/dt = v(x, t) from t = 1 (noise x1) to t = 0 in `steps` Euler steps, one NFE each.

    The grid is `euler_sigmas(steps, shift)` unless `sigmas` (steps + 1 values from 1 to 0) is given, e.g.
    diffusers' `flow_sigmas`. Chapter 3 shows this loop, without the shift, as the code a reader can copy.
    """
    sigmas = euler_sigmas(steps, shift) if sigmas is None else torch.as_tensor(sigmas)
    x, path = x1, [x1]
    with torch.no_grad():
        for s, s_next in zip(sigmas[:-1], sigmas[1:]):
            x = x + (s_next - s) * velocity(x, torch.full((x.shape[0],), float(s)))
            if trajectory:
                path.append(x)
    return torch.stack(path) if trajectory else x


def straightness(path: torch.Tensor) -> float:
    """Liu et al. (2023), eq. 5, on a sampled path (K+1, n, d): mean over steps of |(x_K - x_0) - step velocity|^2.

    Each step's velocity is rescaled to unit time, so a perfectly straight path (constant velocity) scores 0.
    """
    k = path.shape[0] - 1
    total = path[-1] - path[0]
    steps = path[1:] - path[:-1]
    return float(((steps * k - total[None]) ** 2).sum(-1).mean())


def path_length_ratio(path: torch.Tensor) -> float:
    """Length of the travelled path over the distance between its ends, averaged over samples (1 = straight)."""
    length = (path[1:] - path[:-1]).norm(dim=-1).sum(0)
    chord = (path[-1] - path[0]).norm(dim=-1).clamp_min(1e-8)
    return float((length / chord).mean())
