"""How far the shapes scorer can be trusted: accuracy on ground-truth renders (clean, noisy, blurred) and how
often it says "wrong" when one attribute of the image was deliberately broken. Also the Wilson interval used to
report adherence rates over a few hundred prompts (Wilson 1927; Brown, Cai & DasGupta 2001 recommend it over
the normal interval for proportions near 0 or 1)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import ndimage

from lib.shapes.captions import caption
from lib.shapes.raster import render
from lib.shapes.scene import CATEGORIES, COLOURS, DESIGN, LETTERS, LIGHTS, PATTERNS, SHAPES, Scene
from lib.shapes.scorer import score
from lib.shapes.world import MIN_SIDE, MIN_SIDE_OUTLINED, SplitMix64, _place, relation_holds, sample_scene

CONDITIONS = ("clean", "noise", "blur+noise", "corrupted")
NOISE_SIGMA = 0.05  # Gaussian noise, as a fraction of the 0..255 range
BLUR_SIGMA = 0.6  # Gaussian blur in pixels at 32 x 32 (scaled with the image size)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials (95 % for z = 1.96); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p of the pooled two-proportion z test of k1/n1 against k2/n2, for two independent samples
    (1.0 when both are all failures or all successes)."""
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (k1 / n1 - k2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def outside_chance(z: float = 1.96) -> float:
    """How often a second independent sample of the same true rate falls outside the first's interval (normal
    approximation): the difference of two independent rates has sqrt(2) times one rate's spread, so
    P(|Z| > z / sqrt(2)) = erfc(z / 2); 0.166 for 95 % intervals."""
    return math.erfc(z / 2)


def degrade(image: np.ndarray, seed: int, noise: float = NOISE_SIGMA, blur: float = 0.0) -> np.ndarray:
    """The image blurred (sigma `blur` pixels at 32 px, scaled to its size), then with Gaussian noise added."""
    x = image.astype(np.float64)
    if blur > 0:
        x = ndimage.gaussian_filter(x, (blur * image.shape[0] / 32, blur * image.shape[1] / 32, 0))
    x = x + np.random.default_rng(seed).normal(0.0, noise * 255.0, x.shape)
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _other(rng: SplitMix64, options, *avoid):
    return rng.pick(tuple(o for o in options if o not in avoid))


def corrupt(scene: Scene, attribute: str, rng: SplitMix64) -> Scene | None:
    """A copy of the scene with exactly one attribute made wrong for the original caption; None if impossible.

    colour/shape/letter: one object changes colour/shape/letter; binding: two objects of different colours
    and shapes swap colours; relation: the two objects swap places; present: one object removed; count: one
    object added; fill: one object toggles its outline; pattern and light: changed to another value."""
    objs = list(scene.objects)
    i = rng.below(len(objs))
    o = objs[i]
    if attribute == "colour":
        objs[i] = replace(o, colour=_other(rng, COLOURS, *(p.colour for p in objs)))
    elif attribute == "shape" and o.shape != "letter":
        objs[i] = replace(o, shape=_other(rng, SHAPES, o.shape))
    elif attribute == "letter" and o.shape == "letter":
        objs[i] = replace(o, letter=_other(rng, LETTERS, o.letter))
    elif attribute == "binding":
        pairs = [(a, b) for a in range(len(objs)) for b in range(a + 1, len(objs))
                 if objs[a].colour != objs[b].colour and objs[a].shape != objs[b].shape]
        if not pairs:
            return None
        a, b = rng.pick(pairs)
        objs[a], objs[b] = replace(objs[a], colour=objs[b].colour), replace(objs[b], colour=objs[a].colour)
    elif attribute == "relation" and scene.relation is not None:
        a, b = objs[0], objs[1]

        def inside(v: int, side: int) -> int:  # a big object centred where a small one was can cross the border
            return min(max(v, 0), DESIGN - side)

        objs[0] = replace(a, x0=inside(b.x0 + (b.w - a.w) // 2, a.w), y0=inside(b.y0 + (b.h - a.h) // 2, a.h))
        objs[1] = replace(b, x0=inside(a.x0 + (a.w - b.w) // 2, b.w), y0=inside(a.y0 + (a.h - b.h) // 2, b.h))
        if relation_holds(objs[0], objs[1], scene.relation):  # clamped back into place: not a corruption
            return None
    elif attribute == "present":
        del objs[i]
    elif attribute == "count":  # one more object: a copy, or a small square of its colour if no copy fits
        for w, h, shape in ((o.w, o.h, o.shape), (MIN_SIDE, MIN_SIDE, "square")):
            corner = _place(rng, w, h, objs, tries=200)
            if corner is not None:
                objs.append(replace(o, x0=corner[0], y0=corner[1], w=w, h=h, shape=shape,
                                    letter=o.letter if shape == "letter" else None))
                break
        else:
            return None
    elif attribute == "fill" and o.shape != "letter":
        if o.filled and o.size < MIN_SIDE_OUTLINED:  # an outline needs room for a visible hole
            return None
        objs[i] = replace(o, filled=not o.filled)
    elif attribute == "pattern":
        return replace(scene, pattern=_other(rng, PATTERNS, scene.pattern))
    elif attribute == "light":
        return replace(scene, light=_other(rng, LIGHTS + (None,), scene.light))
    else:
        return None
    return replace(scene, objects=tuple(objs))


def validation_records(n: int = 1000, size: int = 32, categories=CATEGORIES, start: int = 0) -> list[dict]:
    """One row per (category, attribute, condition, sample): whether the scorer judged the attribute right.

    For clean, noise and blur+noise the truth is "correct"; for corrupted it is "wrong" (blurred and noisy too),
    so the row counts as right when the scorer reports the broken attribute as False."""
    rows = []
    for cat in categories:
        for seed in range(start, start + n):
            scene = sample_scene(seed, "train", cat)
            text, img = caption(scene), render(scene, size)
            views = {"clean": img, "noise": degrade(img, seed),
                     "blur+noise": degrade(img, seed, blur=BLUR_SIGMA)}
            for cond, view in views.items():
                for attr, ok in score(view, text, all_attributes=True).items():
                    rows.append({"category": cat, "attribute": attr, "condition": cond, "right": ok})
            rng = SplitMix64(seed, 7)
            for attr in score(img, text, all_attributes=True):
                bad = corrupt(scene, attr, rng)
                if bad is None:
                    continue
                view = degrade(render(bad, size), seed + 1, blur=BLUR_SIGMA)
                rows.append({"category": cat, "attribute": attr, "condition": "corrupted",
                             "right": not score(view, text, all_attributes=True)[attr]})
    return rows


def validation_table(n: int = 1000, size: int = 32, categories=CATEGORIES):
    """The scorer's validation as a pandas DataFrame: rows (category, attribute), columns per condition with
    the share judged right, its n, and the lower end of its 95 % Wilson interval."""
    import pandas as pd

    df = pd.DataFrame(validation_records(n, size, categories))
    g = df.groupby(["category", "attribute", "condition"], sort=False)["right"].agg(["sum", "count"])
    g["accuracy"] = g["sum"] / g["count"]
    g["wilson_low"] = [wilson_interval(int(k), int(m))[0] for k, m in zip(g["sum"], g["count"])]
    wide = g[["accuracy", "count", "wilson_low"]].unstack("condition")
    wide = wide.reindex(columns=[(m, c) for m in ("accuracy", "count", "wilson_low") for c in CONDITIONS
                                 if (m, c) in wide.columns])
    return wide.rename(columns={"count": "n"}, level=0)


def summarise(results: list[dict[str, bool]]):
    """Per-attribute adherence over many scored images: right, n, rate and its 95 % Wilson interval."""
    import pandas as pd

    rows = []
    names = list(dict.fromkeys(k for r in results for k in r))
    for attr in names + ["all"]:
        vals = [all(r.values()) if attr == "all" else r[attr] for r in results if attr == "all" or attr in r]
        k, m = int(sum(vals)), len(vals)
        lo, hi = wilson_interval(k, m)
        rows.append({"attribute": attr, "right": k, "n": m, "rate": k / m if m else float("nan"),
                     "low": lo, "high": hi})
    return pd.DataFrame(rows).set_index("attribute")
