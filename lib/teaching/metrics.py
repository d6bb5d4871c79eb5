"""Sample-quality measures for the toy models: sliced Wasserstein (2-D), Frechet distance and class coverage (digits).

None of them is a perceptual judgement. Each compares generated samples with held-out data through a
fixed lens: random 1-D projections (SWD) or the features of a small digit classifier (FD), so each can
only see what its lens shows. The chapters say what that is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg
from torch import nn


# Random directions the sliced Wasserstein distance averages over (chapters 1 and 3 print this number).
N_PROJECTIONS = 256


def sliced_wasserstein(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor, n_proj: int = N_PROJECTIONS,
                       n_quantiles: int = 200, seed: int = 0) -> float:
    """Sliced 2-Wasserstein distance: the W2 distance of 1-D projections, root-mean-squared over random directions.

    Sets may differ in size: each projection is compared at `n_quantiles` common quantile levels.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    dirs = rng.standard_normal((a.shape[1], n_proj))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    levels = (np.arange(n_quantiles) + 0.5) / n_quantiles
    qa = np.quantile(a @ dirs, levels, axis=0)
    qb = np.quantile(b @ dirs, levels, axis=0)
    return float(np.sqrt(((qa - qb) ** 2).mean()))


def frechet_distance(feat_a: np.ndarray, feat_b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)): FID's formula (Heusel et al. 2017) on any features."""
    mu_a, mu_b = feat_a.mean(0), feat_b.mean(0)
    s_a, s_b = np.cov(feat_a, rowvar=False), np.cov(feat_b, rowvar=False)
    # Tr (S_a S_b)^(1/2) = Tr (S_a^(1/2) S_b S_a^(1/2))^(1/2): symmetric, so eigh stays stable when
    # dead ReLU units make the covariances singular (scipy's sqrtm then warns and may go complex).
    w, v = linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(linalg.eigvalsh(root_a @ s_b @ root_a), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a) + np.trace(s_b) - 2 * cross)


class DigitClassifier(nn.Module):
    """A 64-128-64-10 MLP; its 64-unit hidden layer is the feature space of the digit Frechet distance."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU())
        self.head = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, steps: int = 400, seed: int = 0) -> DigitClassifier:
    """Full-batch Adam on the real training digits, with light input noise so generated digits are not off-manifold."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    clf = DigitClassifier()
    opt = torch.optim.Adam(clf.parameters(), lr=3e-3, weight_decay=1e-4)
    for _ in range(steps):
        logits = clf(x + 0.1 * torch.randn(x.shape, generator=gen))
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    clf.eval()
    return clf


def accuracy(clf: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of digits the classifier labels correctly."""
    with torch.no_grad():
        return float((clf(x).argmax(1) == y).float().mean())


@dataclass(frozen=True)
class DigitScore:
    """Frechet distance to held-out digits, and how the predicted classes of the samples spread out."""

    fd: float
    classes_present: int  # classes that receive at least 2% of the samples
    label_entropy: float  # entropy of the predicted-label histogram over log(10): 1 = perfectly balanced


def class_coverage(labels: np.ndarray, n_classes: int = 10, min_share: float = 0.02) -> tuple[int, float]:
    """(classes with at least `min_share` of the samples, normalised entropy of the label histogram)."""
    share = np.bincount(np.asarray(labels), minlength=n_classes) / max(len(labels), 1)
    nz = share[share > 0]
    return int((share >= min_share).sum()), float(-(nz * np.log(nz)).sum() / np.log(n_classes))


class DigitScorer:
    """Scores generated digits against a fixed held-out set, in the features of one trained classifier."""

    def __init__(self, clf: DigitClassifier, reference: torch.Tensor):
        self.clf = clf
        self.ref_features = self.features(reference)

    def features(self, x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self.clf.features(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(np.float64)

    def __call__(self, samples: torch.Tensor) -> DigitScore:
        x = torch.as_tensor(samples, dtype=torch.float32).clamp(-1, 1)  # pixels live in [-1, 1]
        with torch.no_grad():
            labels = self.clf(x).argmax(1).numpy()
        present, entropy = class_coverage(labels)
        return DigitScore(frechet_distance(self.features(x), self.ref_features), present, entropy)
