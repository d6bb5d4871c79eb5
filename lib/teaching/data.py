"""The two small data sets of chapters 1-3, both made or shipped offline: 2-D moons and 8x8 digits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Dataset:
    """Training and held-out points as float32 tensors in roughly [-2, 2] (labels: digit classes or None)."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])


def moons(n_train: int = 4000, n_test: int = 2000, noise: float = 0.06, seed: int = 0) -> Dataset:
    """Two interleaved half-circles, standardised: a 2-D distribution with two curved, separate modes."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    upper = rng.random(n) < 0.5
    angle = rng.random(n) * np.pi
    x = np.where(upper, np.cos(angle), 1 - np.cos(angle))
    y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
    pts = np.stack([x, y], 1) + noise * rng.standard_normal((n, 2))
    pts = (pts - [0.5, 0.25]) / [0.87, 0.5]  # centre and scale to unit variance per axis
    pts = torch.from_numpy(pts.astype(np.float32))
    labels = torch.from_numpy((~upper).astype(np.int64))  # class 0: upper moon, 1: lower moon
    return Dataset("moons", pts[:n_train], pts[n_train:], labels[:n_train], labels[n_train:])


def digits(n_test: int = 360, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 handwritten 8x8 digits (UCI), pixels scaled from 0..16 to [-1, 1], split at random."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.data.astype(np.float32) / 8.0) - 1.0
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", torch.from_numpy(x[train]), torch.from_numpy(x[test]),
                   torch.from_numpy(y[train]), torch.from_numpy(y[test]))


def to_images(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Flat 64-vectors in [-1, 1] to (n, 8, 8) images in [0, 1] for display (values outside are clipped)."""
    x = np.asarray(x, dtype=np.float32).reshape(-1, 8, 8)
    return np.clip((x + 1) / 2, 0, 1)


def sample_photo(width: int = 96, height: int = 64) -> np.ndarray:
    """scikit-learn's bundled photo of a Chinese temple, downsized, as (h, w, 3) floats in [0, 1]."""
    from PIL import Image
    from sklearn.datasets import load_sample_image

    img = Image.fromarray(load_sample_image("china.jpg")).resize((width, height), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32) / 255.0
