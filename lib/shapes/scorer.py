"""A small GenEval for the shapes world: does an image show what its prompt asks for, attribute by attribute?

GenEval (Ghosh et al. 2023) detects objects with a trained detector and checks counts, colours and positions
against the prompt. Here the world is simple enough for classical image analysis (`lib.shapes.detect`), and the
prompt is read back by the parser of the caption grammar, so prompt and image are compared attribute by
attribute. `python -m lib.shapes validate` measures how far the verdicts can be trusted.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from lib.shapes.captions import parse
from lib.shapes.detect import Detected, analyse, read_letter
from lib.shapes.scene import SceneSpec

ATTRIBUTES = ("present", "count", "colour", "shape", "binding", "relation", "letter", "fill", "pattern", "light")


def relation_of(a: Detected, b: Detected) -> str:
    """Where a lies relative to b, by the dominant axis of the centroid offset (image y grows downwards)."""
    dx, dy = b.centre[0] - a.centre[0], b.centre[1] - a.centre[1]
    if abs(dx) >= abs(dy):
        return "left of" if dx > 0 else "right of"
    return "above" if dy > 0 else "below"


def _contains(have: Counter, need: Counter) -> bool:
    return all(have[k] >= n for k, n in need.items())


def score_spec(image: np.ndarray, spec: SceneSpec, all_attributes: bool = False) -> dict[str, bool]:
    """Per-attribute correctness of an image for a scene spec (see `score`)."""
    seen = analyse(image)
    found = list(seen.objects)
    need = [g for g in spec.groups for _ in range(g.count)]
    shapes_needed = [g for g in need if g.shape != "letter"]
    out: dict[str, bool] = {
        "present": len(found) >= len(need),
        "count": len(found) == len(need),
        "colour": _contains(Counter(d.colour for d in found), Counter(g.colour for g in need)),
    }
    if shapes_needed:
        out["shape"] = _contains(Counter(d.shape for d in found), Counter(g.shape for g in shapes_needed))
    if len({(g.colour, g.shape) for g in shapes_needed}) > 1:
        out["binding"] = _contains(Counter((d.colour, d.shape) for d in found),
                                   Counter((g.colour, g.shape) for g in shapes_needed))
    if spec.relation is not None:
        a = next((d for d in found if d.colour == spec.groups[0].colour), None)
        b = next((d for d in found if d.colour == spec.groups[1].colour and d is not a), None)
        out["relation"] = a is not None and b is not None and relation_of(a, b) == spec.relation
    letters = [g for g in spec.groups if g.shape == "letter"]
    if letters:  # each named letter is read from the largest object of its colour (or the largest of all)
        picks = [next((d for d in found if d.colour == g.colour), found[0] if found else None) for g in letters]
        out["letter"] = all(d is not None and read_letter(d.mask) == g.letter for d, g in zip(picks, letters))
    if shapes_needed and (all_attributes or not all(g.filled for g in shapes_needed)):
        out["fill"] = _contains(Counter(d.filled for d in found), Counter(g.filled for g in shapes_needed))
    if all_attributes or spec.pattern != "plain":
        out["pattern"] = seen.pattern == spec.pattern
    if all_attributes or spec.light is not None:
        out["light"] = seen.light == spec.light
    return out


def score(image: np.ndarray, prompt: str, all_attributes: bool = False) -> dict[str, bool]:
    """Which of the prompt's attributes the image gets right, e.g. {'present': True, 'colour': False, ...}.

    present: at least as many objects as named; count: exactly as many; colour / shape: every named colour /
    shape is among the objects (as multisets); binding (two or more kinds of object): every named
    colour-shape pair is; relation: the first named colour's object lies on the named side of the second's
    (dominant axis of the centroid offset); letter: the glyph in the named colour reads as the named letter;
    fill, pattern, light: only when the prompt names an outline, a pattern or a light (for every prompt with
    `all_attributes=True`).
    The prompt must follow the shapes grammar (`lib.shapes.captions`); otherwise PromptParseError.
    """
    return score_spec(image, parse(prompt), all_attributes)
