"""Prompt adherence of a trained miniature: generate with the real pipeline, score with lib.shapes' small GenEval.

Conditions are lists of prompts from scenes the training never drew (seeds above the training range), held-in
(attribute combinations seen in training) or held-out; each attribute's rate comes with its Wilson 95 % interval.
"""

from __future__ import annotations

import numpy as np
import torch

EVAL_SEED0 = 10_000_000  # far above any training seed: new scenes, same world


def prompts(kind: str, n: int, split: str = "train", seed0: int = EVAL_SEED0) -> tuple[str, ...]:
    """n captions of unseen scenes: kind is a category of the world, or "single" (one filled shape, no pattern or
    light: "a red circle"; held-out split: a colour-shape pair never seen in training) or "relation" (the spatial
    category; held-out split: at least one held-out combination in each)."""
    from lib.shapes import sample_scene
    from lib.shapes.captions import caption, describe
    from lib.shapes.scene import GroupSpec, SceneSpec
    from lib.shapes.world import SplitMix64

    if kind == "single":
        pairs = single_pairs(split)
        rng = SplitMix64(seed0, 1)
        return tuple(describe(SceneSpec((GroupSpec(1, *pairs[rng.below(len(pairs))]),))) for _ in range(n))
    category = "spatial" if kind == "relation" else kind
    return tuple(caption(sample_scene(seed0 + i, split, category)) for i in range(n))


def single_pairs(split: str) -> list[tuple[str, str]]:
    """The colour-shape pairs of single-object prompts: those seen in training, or the held-out ones."""
    from lib.shapes import COLOURS, HELDOUT_COLOUR_SHAPE, SHAPES

    if split == "heldout":
        return sorted(HELDOUT_COLOUR_SHAPE)
    return [(c, s) for c in COLOURS for s in SHAPES if (c, s) not in HELDOUT_COLOUR_SHAPE]


@torch.no_grad()
def generate(pipe, prompts_: list[str], seed: int = 0, batch: int = 50, negative: str | None = None,
             **kw) -> np.ndarray:
    """uint8 images (n, h, w, 3), one per prompt, image i from seed + i whatever the batching; `negative`: one
    negative prompt for every image (FLUX's true CFG)."""
    from lib.miniature.trained.text import quiet_truncation

    images = []
    with quiet_truncation():
        for i in range(0, len(prompts_), batch):
            chunk = prompts_[i:i + batch]
            gens = [torch.Generator().manual_seed(seed + i + j) for j in range(len(chunk))]
            neg = {} if negative is None else {"negative_prompt": [negative] * len(chunk)}
            out = pipe(prompt=chunk, generator=gens, output_type="np", **neg, **kw).images
            images.append((np.clip(out, 0, 1) * 255).round().astype(np.uint8))
    return np.concatenate(images)


def adherence(images: np.ndarray, prompts_: list[str]) -> dict[str, tuple[float, float, float, int]]:
    """Per attribute: (rate, low, high, n) with the Wilson 95 % interval; "all" is every attribute right at once."""
    from lib.shapes import score, wilson_interval

    scores = [score(im, p) for im, p in zip(images, prompts_)]
    keys = sorted({k for s in scores for k in s}) + ["all"]
    out = {}
    for k in keys:
        got = [all(s.values()) if k == "all" else s[k] for s in scores if k == "all" or k in s]
        lo, hi = wilson_interval(sum(got), len(got))
        out[k] = (sum(got) / len(got), lo, hi, len(got))
    return out
