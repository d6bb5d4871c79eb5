"""Small experiment steps that chapters 1 and 3 both run: the digit judge, sample rows, guidance, eta."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lib.teaching import metrics, samplers
from lib.teaching.data import Dataset
from lib.teaching.models import MLPDenoiser
from lib.teaching.schedules import NoiseSchedule
from lib.teaching.train import eps_fn


@dataclass
class DigitJudge:
    """The classifier behind the digit measures, its test accuracy, and the score real training digits get."""

    classifier: metrics.DigitClassifier
    score: metrics.DigitScorer
    test_accuracy: float
    real_score: metrics.DigitScore


def digit_judge(d: Dataset, seed: int = 0) -> DigitJudge:
    """Train the feature classifier on the training digits; score against the held-out digits."""
    clf = metrics.train_classifier(d.train, d.train_labels, steps=200, seed=seed)
    scorer = metrics.DigitScorer(clf, d.test)
    return DigitJudge(clf, scorer, metrics.accuracy(clf, d.test, d.test_labels), scorer(d.train))


def noise(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    """The starting noise x_T, reproducible from its seed."""
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def ddim_eta_sweep(model: MLPDenoiser, x_T: torch.Tensor, steps: int, etas: tuple[float, ...],
                   schedule: NoiseSchedule | None = None) -> dict[float, np.ndarray]:
    """DDIM samples from the same x_T for each eta (eta = 1: DDPM-like noise; 0: deterministic)."""
    schedule = schedule or NoiseSchedule()
    return {eta: samplers.sample(eps_fn(model, schedule.T), schedule, x_T, steps, "ddim", eta=eta).numpy()
            for eta in etas}


def guided_digits(model: MLPDenoiser, judge: DigitJudge, scales: tuple[float, ...], n: int = 500, steps: int = 100,
                  seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[float, float]]:
    """Class-conditional digits (labels 0..9 repeating) at each guidance scale; and how often the judge agrees.

    Agreement = the fraction of samples the classifier assigns to the class they were asked for.
    """
    schedule = NoiseSchedule()
    labels = torch.arange(n) % 10
    x_T = noise(n, 64, seed)
    rows, agreement = {}, {}
    for w in scales:
        x = samplers.sample(eps_fn(model, schedule.T, labels, w), schedule, x_T, steps, "ddim").clamp(-1, 1)
        rows[f"w = {w:g}"] = x
        agreement[w] = metrics.accuracy(judge.classifier, x, labels)
    return rows, agreement


def sampling_paths(diffusion: MLPDenoiser, rf: MLPDenoiser, rf2: MLPDenoiser, x_T: torch.Tensor,
                   steps: int = 100) -> dict[str, torch.Tensor]:
    """Whole sampling paths (steps + 1, n, dim) from the same x_T: DDPM, DDIM, rectified flow, 2-rectified flow."""
    from lib.teaching import flow
    from lib.teaching.train import velocity_fn

    schedule = NoiseSchedule()
    predict = eps_fn(diffusion, schedule.T)
    return {
        "DDPM": samplers.sample(predict, schedule, x_T, steps, "ddpm", seed=1, trajectory=True),
        "DDIM": samplers.sample(predict, schedule, x_T, steps, "ddim", trajectory=True),
        "RF": flow.euler_sample(velocity_fn(rf), x_T, steps, trajectory=True),
        "2-RF": flow.euler_sample(velocity_fn(rf2), x_T, steps, trajectory=True),
    }
