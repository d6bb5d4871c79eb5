"""The quality measures: identical sets score about zero, a shifted or collapsed set scores worse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lib.teaching import data, metrics


def test_sliced_wasserstein_is_zero_for_identical_sets_and_grows_with_a_shift():
    pts = data.moons().test.numpy()
    assert metrics.sliced_wasserstein(pts, pts) == pytest.approx(0.0, abs=1e-12)
    small = metrics.sliced_wasserstein(pts, pts + [0.1, 0.0])
    large = metrics.sliced_wasserstein(pts, pts + [0.5, 0.0])
    assert 0.0 < small < large


def test_sliced_wasserstein_separates_train_from_test_less_than_from_noise():
    d = data.moons()
    real = metrics.sliced_wasserstein(d.train.numpy(), d.test.numpy())
    noise = metrics.sliced_wasserstein(np.random.default_rng(0).standard_normal((2000, 2)), d.test.numpy())
    assert real < 0.1 < noise


def test_frechet_distance_zero_for_identical_and_equal_to_squared_mean_shift():
    f = np.random.default_rng(0).standard_normal((500, 6))
    assert metrics.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
    assert metrics.frechet_distance(f, f + 2.0) == pytest.approx(6 * 4.0, rel=1e-6)


def test_class_coverage_counts_classes_and_entropy():
    assert metrics.class_coverage(np.arange(1000) % 10) == (10, pytest.approx(1.0))
    present, entropy = metrics.class_coverage(np.full(1000, 3))
    assert present == 1 and entropy == pytest.approx(0.0)


@pytest.fixture(scope="module")
def scorer():
    d = data.digits()
    clf = metrics.train_classifier(d.train, d.train_labels, steps=150)
    return d, clf, metrics.DigitScorer(clf, d.test)


def test_digit_classifier_learns_the_real_digits(scorer):
    d, clf, _ = scorer
    assert metrics.accuracy(clf, d.test, d.test_labels) > 0.9


def test_digit_score_prefers_real_digits_over_noise_and_one_class(scorer):
    d, _, score = scorer
    real, noise = score(d.train), score(torch.rand(500, 64) * 2 - 1)
    ones = score(d.train[d.train_labels == 1])
    assert real.fd < ones.fd and real.fd < noise.fd
    assert real.classes_present == 10 and ones.classes_present < 3
    assert ones.label_entropy < 0.3 < real.label_entropy
