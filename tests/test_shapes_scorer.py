"""The shapes scorer: right on ground-truth renders (clean and degraded), "wrong" on images with one attribute
broken, and a clear error for prompts it cannot read."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from lib.shapes import CATEGORIES, PromptParseError, analyse, render, sample, sample_scene, score, caption
from lib.shapes.scene import BACKGROUND
from lib.shapes.validate import BLUR_SIGMA, corrupt, degrade, summarise, wilson_interval
from lib.shapes.world import SplitMix64

N = 60  # scenes per category (ground truth)
N_BROKEN = 20  # scenes per category (corruptions)


def _accuracy(views) -> dict[tuple[str, str], float]:
    right = defaultdict(list)
    for cat in CATEGORIES:
        for seed in range(N):
            s = sample(seed, "train", cat)
            for attr, ok in score(views(s.image, seed), s.caption, all_attributes=True).items():
                right[cat, attr].append(ok)
    return {k: float(np.mean(v)) for k, v in right.items()}


def test_scorer_is_right_on_every_attribute_of_clean_renders():
    acc = _accuracy(lambda img, seed: img)
    assert {a for _, a in acc} >= {"present", "count", "colour", "shape", "binding", "relation", "letter",
                                    "fill", "pattern", "light"}
    assert min(acc.values()) >= 0.98, {k: v for k, v in acc.items() if v < 0.98}


def test_scorer_is_right_on_renders_with_noise_and_blur():
    acc = _accuracy(lambda img, seed: degrade(img, seed, blur=BLUR_SIGMA))
    assert min(acc.values()) >= 0.95, {k: v for k, v in acc.items() if v < 0.95}


def test_scorer_works_at_64_pixels():
    for cat in CATEGORIES:
        for seed in range(4):
            s = sample(seed, "train", cat, size=64)
            assert all(score(s.image, s.caption, all_attributes=True).values()), s.caption


@pytest.mark.parametrize("attribute", ["present", "count", "colour", "shape", "binding", "relation", "letter",
                                       "fill", "pattern", "light"])
def test_scorer_says_wrong_when_one_attribute_is_broken(attribute):
    caught, tried = 0, 0
    for cat in CATEGORIES:
        for seed in range(N_BROKEN):
            scene = sample_scene(seed, "train", cat)
            bad = corrupt(scene, attribute, SplitMix64(seed, 11))
            if bad is None:
                continue
            result = score(degrade(render(bad), seed, blur=BLUR_SIGMA), caption(scene), all_attributes=True)
            tried += 1
            caught += not result[attribute]
    assert tried >= 15 and caught / tried >= 0.95, (caught, tried)


def test_colour_swap_breaks_binding_but_not_colour_or_shape():
    scenes = (sample_scene(s, "train", "spatial") for s in range(200))
    scene = next(sc for sc in scenes if sc.objects[0].shape != sc.objects[1].shape)
    result = score(render(corrupt(scene, "binding", SplitMix64(0))), caption(scene))
    assert result["colour"] and result["shape"] and not result["binding"]


def test_a_blank_image_has_nothing_present():
    blank = np.empty((32, 32, 3), np.uint8)
    blank[...] = BACKGROUND
    result = score(blank, "a red circle above a blue square")
    assert not result["present"] and not result["count"] and not result["relation"]
    assert analyse(blank).objects == () and analyse(blank).pattern == "plain"


def test_only_named_style_attributes_are_scored_unless_all_are_asked_for():
    s = sample(3, "train", "spatial")
    assert {"fill", "pattern", "light"}.isdisjoint(score(s.image, s.caption))
    assert {"fill", "pattern", "light"} <= set(score(s.image, s.caption, all_attributes=True))


def test_unparsable_prompt_raises_prompt_parse_error():
    img = sample(0).image
    with pytest.raises(PromptParseError, match="expected a colour .* found 'teal'"):
        score(img, "a teal circle")


def test_wilson_interval_matches_the_closed_form_and_summarise_uses_it():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 1.96 ** 2 / (10 + 1.96 ** 2)))
    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    lo, hi = wilson_interval(190, 200)
    assert lo < 0.95 < hi and hi < 1
    table = summarise([{"colour": True, "shape": False}, {"colour": True, "shape": True}])
    assert table.loc["colour", "rate"] == 1.0 and table.loc["shape", "right"] == 1 and table.loc["all", "n"] == 2
    assert table.loc["shape", "low"] == pytest.approx(wilson_interval(1, 2)[0])


def test_float_images_in_unit_range_score_like_uint8_and_wrong_shapes_are_refused():
    from lib.errors import ConfigError

    s = sample(2, "train", "photo")
    assert score(s.image / 255.0, s.caption) == score(s.image, s.caption)
    with pytest.raises(ConfigError, match=r"shape \(H, W, 3\)"):
        score(s.image[..., 0], s.caption)
    with pytest.raises(ConfigError, match="floats in \\[0, 1\\]"):
        score(s.image * 2.0, s.caption)
