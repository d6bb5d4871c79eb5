"""The shapes world: a scene, its caption and its image, drawn deterministically from a seed.

Each of the prompt bank's five categories has a miniature here: a letter glyph (text), two objects and a
relation (spatial), two or three groups with bound colours and counts (composition), outlines and background
patterns (style), a light direction (photo). A few attribute combinations are held out: `sample(seed, "train")`
never draws them and `sample(seed, "heldout")` always draws at least one, so a model trained on "train" can be
tested on compositions it never saw (the compositional generalisation GenEval measures, Ghosh et al. 2023).
Randomness comes from SplitMix64 (Steele et al. 2014) in plain Python integers: no library's stream can change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lib.errors import ConfigError
from lib.shapes.captions import caption
from lib.shapes.raster import render
from lib.shapes.scene import CATEGORIES, COLOURS, DESIGN, LETTERS, LIGHTS, RELATIONS, SHAPES, Obj, Scene

SPLITS = ("train", "heldout")
COLOUR_NAMES = tuple(COLOURS)

# Combinations a "train" scene never contains. Each colour and each shape still appears in training with
# other partners, so only the combination is new.
HELDOUT_COLOUR_SHAPE = frozenset({("green", "circle"), ("purple", "square"), ("orange", "triangle")})
HELDOUT_COLOUR_LETTER = frozenset({("blue", "A"), ("yellow", "E")})
HELDOUT_RELATION_COLOURS = frozenset({frozenset({"red", "green"}), frozenset({"blue", "yellow"})})

GAP = 2  # design units kept free between objects, so blur cannot merge them
MARGIN = 1  # design units kept free at the image border
MIN_SIDE = 9  # smallest object side in design units: smaller triangles blur into blobs at 32 x 32
MIN_SIDE_OUTLINED = 13  # an outline 1.5 units wide needs this much room to leave a visible hole
_M64 = (1 << 64) - 1


class SplitMix64:
    """SplitMix64 (Steele, Lea & Flood 2014): a 64-bit generator defined by three integer lines."""

    def __init__(self, *key: int) -> None:
        self.state = 0x5DEECE66D
        self.pool = self.left = 0
        for k in key:
            self.state = (self.state ^ (k & _M64)) & _M64
            self.next()

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & _M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """An integer in [0, n): digits of one 64-bit draw in base n, refilled when fewer than 2^24 remain
        (bias below 2^-17 for the small n used here; one draw serves several choices, which keeps this fast)."""
        if self.left < (1 << 24):
            self.pool, self.left = self.next(), 1 << 64
        self.pool, r = divmod(self.pool, n)
        self.left //= n
        return r

    def between(self, lo: int, hi: int) -> int:
        """An integer in [lo, hi], both included."""
        return lo + self.below(hi - lo + 1)

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, num: int, den: int) -> bool:
        """True with probability num/den."""
        return self.below(den) < num


@dataclass(frozen=True)
class Sample:
    """One item of the world: its seed and split, the ground-truth scene, the caption and the image."""

    seed: int
    split: str
    scene: Scene
    caption: str
    image: np.ndarray


def heldout_combinations(scene: Scene) -> list[str]:
    """The held-out combinations a scene contains, named in words (empty for a training scene)."""
    found = []
    for o in scene.objects:
        if (o.colour, o.shape) in HELDOUT_COLOUR_SHAPE:
            found.append(f"{o.colour} {o.shape}")
        if o.letter is not None and (o.colour, o.letter) in HELDOUT_COLOUR_LETTER:
            found.append(f"{o.colour} letter {o.letter}")
    if scene.relation is not None:
        pair = frozenset({scene.objects[0].colour, scene.objects[1].colour})
        if pair in HELDOUT_RELATION_COLOURS:
            found.append(f"{' and '.join(sorted(pair))} in a relation")
    return list(dict.fromkeys(found))


def _free(box: tuple[int, int, int, int], placed: list[Obj]) -> bool:
    x0, y0, x1, y1 = box
    return all(x1 + GAP <= p.x0 or p.x0 + p.w + GAP <= x0 or y1 + GAP <= p.y0 or p.y0 + p.h + GAP <= y0
               for p in placed)


def _place(rng: SplitMix64, w: int, h: int, placed: list[Obj], tries: int = 60) -> tuple[int, int] | None:
    """A random free top-left corner for a w x h box, or None when `tries` draws found none."""
    for _ in range(tries):
        x0 = rng.between(MARGIN, DESIGN - MARGIN - w)
        y0 = rng.between(MARGIN, DESIGN - MARGIN - h)
        if _free((x0, y0, x0 + w, y0 + h), placed):
            return x0, y0
    return None


def relation_holds(a: Obj, b: Obj, relation: str) -> bool:
    """a <relation> b with clear margins: apart on the relation's axis, the other axis offset at most half."""
    dx = (2 * b.x0 + b.w) - (2 * a.x0 + a.w)  # doubled centre offsets, integers
    dy = (2 * b.y0 + b.h) - (2 * a.y0 + a.h)
    if relation == "left of":
        return a.x0 + a.w + GAP <= b.x0 and 2 * abs(dy) <= dx
    if relation == "right of":
        return b.x0 + b.w + GAP <= a.x0 and 2 * abs(dy) <= -dx
    if relation == "above":
        return a.y0 + a.h + GAP <= b.y0 and 2 * abs(dx) <= dy
    return b.y0 + b.h + GAP <= a.y0 and 2 * abs(dx) <= -dy  # below


def _left_pair(rng: SplitMix64, s1: int, s2: int) -> tuple[tuple[int, int, int], ...] | None:
    """Two square boxes (x0, y0, side), the first clearly left of the second (see `relation_holds`)."""
    hi = DESIGN - MARGIN
    ax = rng.between(MARGIN, hi - s1 - GAP - s2)
    bx = rng.between(ax + s1 + GAP, hi - s2)
    dx = 2 * bx + s2 - 2 * ax - s1  # doubled centre offset; the vertical one may be at most half of it
    ay = rng.between(MARGIN, hi - s1)
    lo_y = max(MARGIN, -((-(4 * ay + 2 * s1 - 2 * s2 - dx)) // 4))
    hi_y = min(hi - s2, (4 * ay + 2 * s1 - 2 * s2 + dx) // 4)
    if lo_y > hi_y:
        return None
    return (ax, ay, s1), (bx, rng.between(lo_y, hi_y), s2)


def _objects(rng: SplitMix64, keys: list[tuple[str, str, bool]], max_size: int) -> tuple[Obj, ...] | None:
    """Place one object per (shape, colour, filled) key, sizes drawn first; None when they do not fit."""
    placed: list[Obj] = []
    for shape, colour, filled in keys:
        lo = MIN_SIDE if filled else MIN_SIDE_OUTLINED
        s = rng.between(lo, max(lo, max_size))
        corner = _place(rng, s, s, placed)
        if corner is None:
            return None
        placed.append(Obj(shape, colour, corner[0], corner[1], s, s, filled))
    return tuple(placed)


def _groups(rng: SplitMix64, n_groups: int, outline_p: tuple[int, int]) -> list[tuple[str, str, bool]]:
    """n distinct (shape, colour, filled) keys; each is outlined with probability outline_p."""
    keys: list[tuple[str, str, bool]] = []
    while len(keys) < n_groups:
        key = (rng.pick(SHAPES), rng.pick(COLOUR_NAMES), not rng.chance(*outline_p))
        if key not in keys:
            keys.append(key)
    return keys


def _text(rng: SplitMix64) -> Scene | None:
    cell = rng.between(2, 3)  # design units per font pixel: glyphs of 10 x 14 or 15 x 21
    w, h = 5 * cell, 7 * cell
    x0, y0 = rng.between(MARGIN, DESIGN - MARGIN - w), rng.between(MARGIN, DESIGN - MARGIN - h)
    return Scene("text", (Obj("letter", rng.pick(COLOUR_NAMES), x0, y0, w, h, True, rng.pick(LETTERS)),))


def _spatial(rng: SplitMix64) -> Scene | None:
    relation = rng.pick(RELATIONS)
    c1 = rng.pick(COLOUR_NAMES)
    c2 = rng.pick(tuple(c for c in COLOUR_NAMES if c != c1))  # distinct colours name the two objects
    pair = _left_pair(rng, rng.between(MIN_SIDE, 12), rng.between(MIN_SIDE, 12))
    if pair is None:
        return None
    (ax, ay, sa), (bx, by, sb) = pair  # the first box is left of the second; turn that into the relation
    if relation in ("right of", "below"):
        (ax, ay, sa), (bx, by, sb) = (bx, by, sb), (ax, ay, sa)
    if relation in ("above", "below"):
        ax, ay, bx, by = ay, ax, by, bx
    a = Obj(rng.pick(SHAPES), c1, ax, ay, sa, sa)
    b = Obj(rng.pick(SHAPES), c2, bx, by, sb, sb)
    return Scene("spatial", (a, b), relation=relation)


def _composition(rng: SplitMix64) -> Scene | None:
    """One to three groups, three objects at most ("a red circle", "two red circles and a blue square"), and
    sometimes an outline, a pattern and a light: from the shortest captions of the world to its longest."""
    n_groups = rng.between(1, 3)
    counts = {1: (rng.between(1, 3),), 2: rng.pick(((1, 1), (2, 1), (1, 2))), 3: (1, 1, 1)}[n_groups]
    keys = _groups(rng, n_groups, (1, 5))
    expanded = [k for k, n in zip(keys, counts) for _ in range(n)]
    objects = _objects(rng, expanded, 12 if len(expanded) > 2 else 14)
    pattern = rng.pick(("stripes", "dots")) if rng.chance(1, 4) else "plain"
    light = rng.pick(LIGHTS) if rng.chance(1, 4) else None
    return None if objects is None else Scene("composition", objects, pattern=pattern, light=light)


def _style(rng: SplitMix64) -> Scene | None:
    """One or two objects with at least one outline, or a background pattern, or both."""
    mode = rng.pick(("outline", "pattern", "both"))
    keys = _groups(rng, rng.between(1, 2), (0, 1) if mode == "pattern" else (1, 2))
    if mode != "pattern" and all(f for _, _, f in keys):
        i = rng.below(len(keys))
        keys[i] = (keys[i][0], keys[i][1], False)
        if len(set(keys)) < len(keys):
            return None
    objects = _objects(rng, keys, 15)
    pattern = rng.pick(("stripes", "dots")) if mode != "outline" else "plain"
    return None if objects is None else Scene("style", objects, pattern=pattern)


def _photo(rng: SplitMix64) -> Scene | None:
    objects = _objects(rng, _groups(rng, rng.between(1, 2), (0, 1)), 15)
    return None if objects is None else Scene("photo", objects, light=rng.pick(LIGHTS))


_DRAW = {"text": _text, "spatial": _spatial, "composition": _composition, "style": _style, "photo": _photo}


def sample_scene(seed: int, split: str = "train", category: str | None = None) -> Scene:
    """The scene of a seed: same (seed, split, category), same scene, on any machine."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; use 'train' or 'heldout'")
    if category is not None and category not in CATEGORIES:
        raise ConfigError(f"unknown category {category!r}; use one of {', '.join(CATEGORIES)} or None")
    rng = SplitMix64(int(seed), SPLITS.index(split), -1 if category is None else CATEGORIES.index(category))
    cat = category if category is not None else rng.pick(CATEGORIES)
    for _ in range(100_000):  # a draw returns None when its objects did not fit: draw again
        scene = _DRAW[cat](rng)
        if scene is not None and bool(heldout_combinations(scene)) == (split == "heldout"):
            return scene
    raise RuntimeError(f"no {split} scene of category {cat} found for seed {seed}")  # a bug, not a user error


def sample(seed: int, split: str = "train", category: str | None = None, size: int = 32) -> Sample:
    """Scene, caption and rendered image of a seed (`split="heldout"`: at least one held-out combination)."""
    scene = sample_scene(seed, split, category)
    return Sample(int(seed), split, scene, caption(scene), render(scene, size))


def batch(seeds, split: str = "train", category: str | None = None,
          size: int = 32) -> tuple[np.ndarray, list[str], list[Scene]]:
    """Images (n, size, size, 3) uint8, captions and scenes for a sequence of seeds: a training batch."""
    items = [sample(s, split, category, size) for s in seeds]
    return np.stack([i.image for i in items]), [i.caption for i in items], [i.scene for i in items]
