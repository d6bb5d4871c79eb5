"""The teaching checkpoint cache: a second training of the same call loads bit-identical weights and the
seconds the first one took; anything that changes the weights changes the key; a corrupt entry is retrained."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from lib.teaching import checkpoints, data, train

SMALL = train.Recipe(hidden=16, depth=2, steps=30, batch=64, lr=1e-2)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DME_TEACHING_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def moons():
    return data.moons(n_train=256, n_test=64)


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_a_second_call_loads_the_first_ones_weights_history_and_seconds(cache, moons, monkeypatch):
    (first, hist1), sec1 = checkpoints.trained(train.train_diffusion, moons, SMALL, seed=0)
    assert len(list(cache.glob("train_diffusion-*.pt"))) == 1 and sec1 > 0

    def refuse(*args, **kwargs):
        raise AssertionError("trained again instead of loading the checkpoint")

    monkeypatch.setattr(train, "fit", refuse)  # every train_* function trains through fit
    (again, hist2), sec2 = checkpoints.trained(train.train_diffusion, moons, SMALL)  # seed=0 by default: the same call
    assert _same(first, again) and hist1 == hist2 and sec2 == sec1


def test_the_cache_never_changes_a_result(cache, moons):
    """Loaded weights equal a fresh training's bit for bit (one kernel on one machine), so are the outputs."""
    checkpoints.trained(train.train_diffusion, moons, SMALL)
    (loaded, _), _ = checkpoints.trained(train.train_diffusion, moons, SMALL)
    fresh, _ = train.train_diffusion(moons, SMALL)
    assert _same(loaded, fresh)
    x, t = torch.randn(8, 2), torch.rand(8)
    assert torch.equal(loaded(x, t), fresh(x, t)) and not loaded.training


def test_what_changes_the_weights_changes_the_key(moons):
    base = checkpoints.key(train.train_diffusion, moons, SMALL, seed=0)
    other_data = data.moons(n_train=256, n_test=64, seed=1)
    variants = [checkpoints.key(train.train_diffusion, moons, SMALL, seed=1),
                checkpoints.key(train.train_diffusion, moons, replace(SMALL, lr=2e-2)),
                checkpoints.key(train.train_diffusion, other_data, SMALL),
                checkpoints.key(train.train_diffusion, moons, SMALL, prediction="v_prediction"),
                checkpoints.key(train.train_flow, moons, SMALL)]
    assert len({base, *variants}) == 1 + len(variants)
    rf, _ = train.train_flow(moons, SMALL)
    rf_other, _ = train.train_flow(moons, SMALL, seed=1)
    assert (checkpoints.key(train.train_reflow, rf, moons, SMALL, n_pairs=64)
            != checkpoints.key(train.train_reflow, rf_other, moons, SMALL, n_pairs=64))


def test_a_corrupt_entry_is_trained_again_and_replaced(cache, moons):
    (model, _), _ = checkpoints.trained(train.train_flow, moons, SMALL)
    (entry,) = cache.glob("train_flow-*.pt")
    entry.write_bytes(b"not a checkpoint")
    (again, _), _ = checkpoints.trained(train.train_flow, moons, SMALL)
    assert _same(model, again) and entry.stat().st_size > 100
    assert not list(cache.glob(".*.tmp"))  # written atomically: no temporary left behind


def test_off_trains_every_time_and_writes_nothing(tmp_path, moons, monkeypatch):
    monkeypatch.setenv("DME_TEACHING_CACHE", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    (model, _), seconds = checkpoints.trained(train.train_flow, moons, SMALL)
    assert seconds > 0 and not any(tmp_path.rglob("*.pt"))


def test_a_change_in_the_training_code_changes_the_key(moons, tmp_path, monkeypatch):
    """The source of the modules that train is in the key: a one-byte edit is a new entry, never a stale hit."""
    import shutil

    base = checkpoints.key(train.train_diffusion, moons, SMALL)
    copy = tmp_path / "teaching"
    shutil.copytree(checkpoints._HERE, copy)
    monkeypatch.setattr(checkpoints, "_HERE", copy)
    assert checkpoints.key(train.train_diffusion, moons, SMALL) == base  # same bytes, same key
    (copy / "train.py").write_text((copy / "train.py").read_text() + "\n")
    assert checkpoints.key(train.train_diffusion, moons, SMALL) != base


def test_the_global_random_state_is_the_same_after_a_hit_and_a_miss(cache, moons):
    torch.manual_seed(7)
    checkpoints.trained(train.train_flow, moons, SMALL)  # a miss: trains (and seeds) inside a forked RNG
    after_miss = torch.rand(3)
    torch.manual_seed(7)
    checkpoints.trained(train.train_flow, moons, SMALL)  # a hit
    assert torch.equal(torch.rand(3), after_miss)


def test_only_the_library_training_functions_are_accepted(cache, moons):
    def my_training(data, recipe):
        return train.train_flow(data, recipe)

    with pytest.raises(ValueError, match="lib.teaching.train"):
        checkpoints.trained(my_training, moons, SMALL)


def test_a_cache_that_cannot_be_written_costs_a_warning_not_the_result(tmp_path, moons, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where the cache folder should be: mkdir fails
    monkeypatch.setenv("DME_TEACHING_CACHE", str(blocker / "teaching"))
    with pytest.warns(UserWarning, match="not cached"):
        (model, history), seconds = checkpoints.trained(train.train_flow, moons, SMALL)
    assert len(history) == SMALL.steps and seconds > 0
