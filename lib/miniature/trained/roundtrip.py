"""What a trained autoencoder gives back: new scenes of the world rendered, encoded, decoded, and scored.

A latent diffusion model learns to make its autoencoder's latents of the training images, so what a round trip
loses, the model has never seen a latent of: the round trip bounds what its images can show (Rombach et al. 2022
report their autoencoders' reconstructions; Esser et al. 2024, sec. 5.2.1, chose SD3's 16 channels by them).
Each attribute is judged as the adherence study judges a generated image: by the shapes scorer, only on what the
caption names, so a background pattern is judged on the scenes that have one. Shown in chapter 4, "How often the
prompt is followed", and logged by train-miniatures for every autoencoder it trains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lib.miniature.trained.evaluate import EVAL_SEED0


def latent_shape(config: dict, size: int) -> tuple[int, int, int]:
    """(channels, height, width) of the latent an AutoencoderKL with `config` makes of a size x size image: each
    down block but the last halves the side."""
    side = size // 2 ** (len(config["down_block_types"]) - 1)
    return config["latent_channels"], side, side


def scenes(n: int, seed0: int = EVAL_SEED0) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """n new scenes of each category of the world (seeds far above training's, the study's prompts): uint8
    images, captions and (category, pattern) per image, category by category."""
    from lib.shapes import CATEGORIES, batch

    images, captions, tags = [], [], []
    for cat in CATEGORIES:
        imgs, caps, scs = batch(range(seed0, seed0 + n), "train", cat)
        images.append(imgs)
        captions += caps
        tags += [(cat, s.pattern) for s in scs]
    return np.concatenate(images), captions, tags


@torch.no_grad()
def round_trip(vae, images: np.ndarray, batch: int = 250) -> np.ndarray:
    """uint8 images through an AutoencoderKL (or the diffusers folder it is stored in): encoded to the latent mean,
    decoded, back to uint8. The latent normalisation cancels out, as in a pipeline."""
    from diffusers import AutoencoderKL

    from lib.miniature.trained import vae as V

    if isinstance(vae, (str, Path)):
        vae = AutoencoderKL.from_pretrained(vae, dtype=torch.float32).eval()
    out = []
    for i in range(0, len(images), batch):
        out.append(V.to_uint8(vae.decode(V.encode(vae, images[i:i + batch])).sample))
    return np.concatenate(out)


def records(images: np.ndarray, captions: list[str], tags: list[tuple[str, str]]) -> list[dict]:
    """One row per (image, attribute the caption names): whether the scorer finds it right. A pattern's row is
    named after the pattern ("pattern: dots"), the attribute a model's prompt would name."""
    from lib.shapes import score

    rows = []
    for img, text, (cat, pattern) in zip(images, captions, tags):
        marks = score(img, text)
        for attr, ok in marks.items():
            name = f"pattern: {pattern}" if attr == "pattern" else attr
            rows.append(dict(category=cat, attribute=name, right=bool(ok)))
        rows.append(dict(category=cat, attribute="all", right=all(marks.values())))
    return rows


def shares(rows: list[dict]) -> dict[str, tuple[float, int]]:
    """records' rows summed up: per attribute, (share right, n)."""
    tally: dict[str, list[int]] = {}
    for r in rows:
        t = tally.setdefault(r["attribute"], [0, 0])
        t[0] += r["right"]
        t[1] += 1
    return {a: (k / n, n) for a, (k, n) in tally.items()}


def weakest(shares_: dict) -> str:
    """The attribute right least often ("all" aside; ties by name) in {attribute: share} or {attribute: (share, n)}."""
    share = {a: v[0] if isinstance(v, tuple) else v for a, v in shares_.items() if a != "all"}
    return min(share, key=lambda a: (share[a], a))


def summary(vae, n: int) -> dict:
    """What train-miniatures logs of a freshly trained autoencoder: n new scenes per category round-tripped; the
    share with every named attribute right, and the attribute right least often with its share."""
    images, captions, tags = scenes(n)
    got = shares(records(round_trip(vae, images), captions, tags))
    least = weakest(got)
    return dict(scenes_per_category=n, all=round(got["all"][0], 4), weakest=least,
                weakest_share=round(got[least][0], 4))
