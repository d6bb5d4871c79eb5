"""The shapes world: a captioned toy world small enough for miniature SD3/FLUX models to learn on a CPU, and a
scorer that measures prompt adherence in it (a small GenEval).

    from lib.shapes import sample, score
    s = sample(7, split="train", category="spatial")   # s.scene, s.caption, s.image (32 x 32 x 3 uint8)
    score(s.image, s.caption)                           # {'present': True, 'count': True, 'colour': True, ...}

Modules: `scene` (vocabulary and ground-truth dataclasses), `font` (the bitmap letters), `raster` (integer
rendering), `world` (seeded sampling, held-out combinations), `captions` (grammar, caption, parse, token count),
`detect` (what an image shows, by classical image analysis), `scorer` (prompt against image, per attribute),
`validate` (scorer validation, Wilson intervals).
Command line: `python -m lib.shapes validate` prints the scorer's validation table; `speed` times rendering.
"""

from lib.shapes.captions import PromptParseError, caption, describe, parse, token_count
from lib.shapes.raster import render
from lib.shapes.scene import (CATEGORIES, COLOURS, LETTERS, LIGHTS, PATTERNS, RELATIONS, SHAPES, GroupSpec, Obj,
                              Scene, SceneSpec)
from lib.shapes.detect import analyse
from lib.shapes.scorer import ATTRIBUTES, score, score_spec
from lib.shapes.validate import summarise, validation_table, wilson_interval
from lib.shapes.world import (HELDOUT_COLOUR_LETTER, HELDOUT_COLOUR_SHAPE, HELDOUT_RELATION_COLOURS, Sample, batch,
                              heldout_combinations, sample, sample_scene)

__all__ = [
    "ATTRIBUTES", "CATEGORIES", "COLOURS", "HELDOUT_COLOUR_LETTER", "HELDOUT_COLOUR_SHAPE",
    "HELDOUT_RELATION_COLOURS", "LETTERS", "LIGHTS", "PATTERNS", "RELATIONS", "SHAPES", "GroupSpec", "Obj",
    "PromptParseError", "Sample", "Scene", "SceneSpec", "analyse", "batch", "caption", "describe",
    "heldout_combinations", "parse", "render", "sample", "sample_scene", "score", "score_spec", "summarise",
    "token_count", "validation_table", "wilson_interval",
]
