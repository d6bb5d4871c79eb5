"""Noise schedules of diffusion models and the forward process they define (chapter 1).

A schedule is a sequence beta_1..beta_T; everything else follows from it (Ho et al. 2020, eq. 4):
alpha_bar_t = prod_{s<=t} (1 - beta_s) and q(x_t | x0) = N(sqrt(alpha_bar_t) x0, (1 - alpha_bar_t) I).
Names follow diffusers' `beta_schedule` so the tests can compare with `DDPMScheduler` directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

T_DEFAULT = 1000
SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
PREDICTIONS = ("epsilon", "sample", "v_prediction")


class ScheduleError(ValueError):
    """A schedule or prediction type was asked for that does not exist; the message lists the valid ones."""


def cosine_alpha_bar(s: np.ndarray) -> np.ndarray:
    """The cosine schedule's alpha_bar at continuous time s in [0, 1] (Nichol & Dhariwal 2021, eq. 17)."""
    return np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2


def make_betas(kind: str = "linear", T: int = T_DEFAULT, beta_start: float | None = None,
               beta_end: float | None = None) -> np.ndarray:
    """beta_1..beta_T of a named schedule, float64, with each schedule's published defaults."""
    if kind == "linear":  # DDPM: linear from 1e-4 to 0.02 over 1000 steps (Ho et al. 2020, section 4)
        return np.linspace(beta_start or 1e-4, beta_end or 0.02, T, dtype=np.float64)
    if kind == "scaled_linear":  # Stable Diffusion 1.x: linear in sqrt(beta), 0.00085 -> 0.012
        lo, hi = math.sqrt(beta_start or 0.00085), math.sqrt(beta_end or 0.012)
        return np.linspace(lo, hi, T, dtype=np.float64) ** 2
    if kind == "squaredcos_cap_v2":  # improved DDPM: beta_t = 1 - abar(t)/abar(t-1), capped at 0.999
        s = np.arange(T + 1, dtype=np.float64) / T
        ab = cosine_alpha_bar(s)
        return np.minimum(1.0 - ab[1:] / ab[:-1], 0.999)
    raise ScheduleError(f"unknown schedule {kind!r}: choose one of {', '.join(SCHEDULES)}")


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete schedule: betas, alpha_bar and the forward process q(x_t | x0) for t = 0..T-1."""

    kind: str = "linear"
    T: int = T_DEFAULT

    @property
    def betas(self) -> torch.Tensor:
        return torch.from_numpy(make_betas(self.kind, self.T))

    @property
    def alpha_bar(self) -> torch.Tensor:
        """alpha_bar_t for t = 0..T-1 (index 0 is the first noising step, as in diffusers)."""
        return torch.cumprod(1.0 - self.betas, dim=0)

    def log_snr(self) -> torch.Tensor:
        """log(alpha_bar / (1 - alpha_bar)): the signal-to-noise ratio each step leaves, in nats."""
        ab = self.alpha_bar
        return torch.log(ab) - torch.log1p(-ab)

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) as float32 columns, broadcastable over a batch."""
        ab = self.alpha_bar[t.long()].float().reshape(-1, 1)
        return ab.sqrt(), (1.0 - ab).sqrt()

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps: jump to step t in one go (eq. 4)."""
        a, s = self.coefficients(t)
        return a * x0 + s * noise

    def q_step(self, x_prev: torch.Tensor, t: int, noise: torch.Tensor) -> torch.Tensor:
        """One forward step x_{t-1} -> x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps (eq. 2)."""
        beta = float(self.betas[t])
        return math.sqrt(1.0 - beta) * x_prev + math.sqrt(beta) * noise

    def target(self, prediction: str, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """What the network regresses: eps (Ho et al.), x0 ("sample") or v = a eps - s x0 (Salimans & Ho 2022)."""
        if prediction == "epsilon":
            return noise
        if prediction == "sample":
            return x0
        if prediction == "v_prediction":
            a, s = self.coefficients(t)
            return a * noise - s * x0
        raise ScheduleError(f"unknown prediction type {prediction!r}: choose one of {', '.join(PREDICTIONS)}")

    def to_x0_eps(self, prediction: str, output: torch.Tensor, x_t: torch.Tensor,
                  t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Turn any of the three network outputs into the pair (x0_hat, eps_hat) the samplers need."""
        return x0_eps(prediction, output, x_t, *self.coefficients(t))


def x0_eps(prediction: str, output: torch.Tensor, x_t: torch.Tensor, a, s) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat, eps_hat) from a network output at x_t = a x0 + s eps; a, s floats or broadcastable tensors."""
    if prediction == "epsilon":
        return (x_t - s * output) / a, output
    if prediction == "sample":
        return output, (x_t - a * output) / s
    if prediction == "v_prediction":  # x0 = a x_t - s v, eps = s x_t + a v (Salimans & Ho 2022, app. D)
        return a * x_t - s * output, s * x_t + a * output
    raise ScheduleError(f"unknown prediction type {prediction!r}: choose one of {', '.join(PREDICTIONS)}")
