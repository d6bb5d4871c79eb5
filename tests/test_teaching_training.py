"""Training is deterministic per seed, learns, and the quality-vs-NFE harness compares methods from one noise."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from lib import teaching
from lib.teaching import compare, data, flow, metrics, train

TINY = replace(train.TOY, hidden=32, depth=2, steps=300, batch=256)


@pytest.fixture(scope="module")
def moons():
    teaching.setup()
    return data.moons(n_train=1000, n_test=1000)


def test_same_seed_trains_the_same_weights_so_chapters_can_retrain(moons):
    a, _ = train.train_diffusion(moons, TINY, seed=3)
    b, _ = train.train_diffusion(moons, TINY, seed=3)
    c, _ = train.train_diffusion(moons, TINY, seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_flow_training_lowers_the_loss_and_beats_noise(moons):
    model, history = train.train_flow(moons, TINY, seed=0)
    assert sum(history[-50:]) < sum(history[:50])
    samples = compare.flow_generator(model)(torch.randn(1000, 2, generator=torch.Generator().manual_seed(0)), 20)
    noise = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1))
    assert metrics.sliced_wasserstein(samples, moons.test) < metrics.sliced_wasserstein(noise, moons.test)


def test_reflow_straightens_the_paths(moons):
    rf, _ = train.train_flow(moons, TINY, seed=0)
    rf2, _ = train.train_reflow(rf, moons, TINY, n_pairs=1000, pair_steps=50)
    x1 = torch.randn(500, 2, generator=torch.Generator().manual_seed(2))
    s1 = flow.straightness(flow.euler_sample(train.velocity_fn(rf), x1, 50, trajectory=True))
    s2 = flow.straightness(flow.euler_sample(train.velocity_fn(rf2), x1, 50, trajectory=True))
    assert s2 < s1


def test_quality_vs_nfe_has_one_row_per_method_and_nfe(moons):
    model, _ = train.train_diffusion(moons, replace(TINY, steps=20), seed=0)
    gens = compare.diffusion_generators(model)
    df = compare.quality_vs_nfe(gens, lambda x: metrics.sliced_wasserstein(x, moons.test), n=200, dim=2, nfes=(1, 5))
    assert list(df["method"]) == ["DDPM", "DDPM", "DDIM", "DDIM"] and list(df["NFE"]) == [1, 5, 1, 5]
    # one step: DDPM adds no noise at its last step, so it equals DDIM
    assert df.loc[0, "score"] == pytest.approx(df.loc[2, "score"])
