"""Draw a `Scene` into an H x W x 3 uint8 image with integer arithmetic only, so every machine gets the same bytes.

Edges are anti-aliased by 4 x 4 supersampling: a pixel's coverage is the count (0..16) of its sample points
inside the shape, and the colour is mixed from the background in sixteenths. Sample points sit at odd
coordinates of a half-sample grid while box and circle boundaries sit at even ones, so no point lies exactly on
those edges (on a triangle's slanted edge a tie counts as outside). Triangle insets compare squared distances
(v * v >= t^2 (a^2 + b^2)) to stay in integers. An object's painted pixels depend only on its shape, colour,
size, light and sub-pixel phase, so they are cached: rendering is then a few array operations per object.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache

import numpy as np

from lib.errors import ConfigError
from lib.shapes.font import GLYPH_H, GLYPH_W, GLYPHS
from lib.shapes.scene import BACKGROUND, COLOURS, DESIGN, PATTERN_INK, Obj, Scene

SS = 4  # supersamples per pixel side
STROKE = 1.5  # outline width of an outlined shape, in design units
SHADE_LOW = 110  # light gradient: brightness runs from 256/256 on the lit side to 110/256 on the far side


def check_size(size: int) -> None:
    """Sizes must be multiples of 16 so design units map to whole half-samples (ConfigError otherwise)."""
    if not isinstance(size, (int, np.integer)) or size < 16 or size % 16:
        raise ConfigError(f"image size {size!r} is not supported; use a multiple of 16 such as 32, 48 or 64")


@lru_cache(maxsize=32)
def background(size: int, pattern: str) -> np.ndarray:
    """The background of a scene: plain, diagonal stripes (about 3 design units thick) or a grid of 2x2 dots."""
    check_size(size)
    idx = np.arange(size)
    i, j = idx[:, None], idx[None, :]
    if pattern == "plain":
        ink = np.zeros((size, size), bool)
    elif pattern == "stripes":  # pixel centre in design units is (2i+1)*16/size; bands 4 units wide along x+y
        ink = ((i + j + 1) * 8 // size) % 2 == 0
    elif pattern == "dots":
        cell = (2 * idx + 1) * 8 // size % 2 == 0
        ink = cell[:, None] & cell[None, :]
    else:
        raise ConfigError(f"unknown background pattern {pattern!r}; use one of plain, stripes, dots")
    img = np.empty((size, size, 3), np.uint8)
    img[...] = BACKGROUND
    img[ink] = PATTERN_INK
    img.flags.writeable = False
    return img


def _triangle_edges(x0: int, y0: int, x1: int, y1: int) -> list[tuple[int, int, int]]:
    """Half-planes a*u + b*v + c > 0 whose intersection is the upright isosceles triangle in the box."""
    pts = [((x0 + x1) // 2, y0), (x0, y1), (x1, y1)]
    edges = []
    for k in range(3):
        (px, py), (qx, qy), (ox, oy) = pts[k], pts[(k + 1) % 3], pts[(k + 2) % 3]
        a, b = py - qy, qx - px
        c = -(a * px + b * py)
        if a * ox + b * oy + c < 0:  # orient so that the opposite vertex is inside
            a, b, c = -a, -b, -c
        edges.append((a, b, c))
    return edges


def _mask(o: Obj, u: np.ndarray, v: np.ndarray, k: int) -> np.ndarray:
    """Which sample points (odd half-sample coordinates u across, v down) fall inside object `o`."""
    x0, y0, x1, y1 = (c * k for c in o.bbox)
    t = int(STROKE * k)
    if o.shape == "letter":
        cw = (x1 - x0) // GLYPH_W
        col, row = (u - x0) // cw, (v - y0) // cw
        inside = (col >= 0) & (col < GLYPH_W) & (row >= 0) & (row < GLYPH_H)
        return inside & GLYPHS[o.letter][np.clip(row, 0, GLYPH_H - 1), np.clip(col, 0, GLYPH_W - 1)]
    if o.shape == "square":
        m = (u > x0) & (u < x1) & (v > y0) & (v < y1)
        if not o.filled:
            m &= ~((u > x0 + t) & (u < x1 - t) & (v > y0 + t) & (v < y1 - t))
        return m
    if o.shape == "circle":
        cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, (x1 - x0) // 2
        d2 = (u - cx) ** 2 + (v - cy) ** 2
        m = d2 < r * r
        return m & (d2 >= (r - t) ** 2) if not o.filled else m
    if o.shape == "triangle":
        vals = [(a * u + b * v + c, a * a + b * b) for a, b, c in _triangle_edges(x0, y0, x1, y1)]
        m = np.ones(np.broadcast_shapes(u.shape, v.shape), bool)
        for val, _ in vals:
            m &= val > 0
        if not o.filled:
            inner = np.ones_like(m)
            for val, n2 in vals:
                inner &= (val > 0) & (val * val >= t * t * n2)
            m &= ~inner
        return m
    raise ConfigError(f"unknown shape {o.shape!r}; use circle, square, triangle or letter")


def _shade(light: str, u: np.ndarray, v: np.ndarray, box: tuple[int, ...]) -> np.ndarray:
    """Per-pixel brightness (SHADE_LOW..256) of a gradient across the box, brightest on the lit side."""
    x0, y0, x1, y1 = box
    if light in ("left", "right"):
        t = np.clip(u - x0, 0, x1 - x0) if light == "left" else np.clip(x1 - u, 0, x1 - x0)
        span = x1 - x0
    elif light in ("above", "below"):
        t = np.clip(v - y0, 0, y1 - y0) if light == "above" else np.clip(y1 - v, 0, y1 - y0)
        span = y1 - y0
    else:
        raise ConfigError(f"unknown light direction {light!r}; use left, right, above or below")
    return 256 - (256 - SHADE_LOW) * t // span


def _pixel_box(o: Obj, size: int) -> tuple[int, int, int, int]:
    """The pixels an object's design box touches: (px0, py0, px1, py1), ends exclusive."""
    bx0, by0, bx1, by1 = o.bbox
    return bx0 * size // DESIGN, by0 * size // DESIGN, -(-bx1 * size // DESIGN), -(-by1 * size // DESIGN)


@lru_cache(maxsize=8192)
def _paint(o: Obj, light: str | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """An object's premultiplied colour (colour * shade * coverage) and its background weight (16 - coverage)
    over its pixel box. Cached: callers pass the object moved by whole pixels to a canonical corner."""
    k = 2 * SS * size // DESIGN  # half-samples per design unit (a multiple of 4 for sizes that are multiples of 16)
    px0, py0, px1, py1 = _pixel_box(o, size)
    # int64 everywhere: squared edge distances exceed int32 at 64 px (and NumPy 1.x on Windows defaults to int32)
    u = (2 * np.arange(px0 * SS, px1 * SS, dtype=np.int64) + 1)[None, :]
    v = (2 * np.arange(py0 * SS, py1 * SS, dtype=np.int64) + 1)[:, None]
    cov = _mask(o, u, v, k).reshape(py1 - py0, SS, px1 - px0, SS).sum(axis=(1, 3), dtype=np.int64)[..., None]
    fg = np.array(COLOURS[o.colour], np.int64)
    if light is not None:  # shading is computed at pixel centres
        uc = (2 * np.arange(px0, px1, dtype=np.int64) + 1)[None, :] * SS
        vc = (2 * np.arange(py0, py1, dtype=np.int64) + 1)[:, None] * SS
        bx0, by0, bx1, by1 = o.bbox
        fg = fg * _shade(light, uc, vc, (bx0 * k, by0 * k, bx1 * k, by1 * k))[..., None] // 256
    paint, keep = fg * cov, 16 - cov
    paint.flags.writeable = keep.flags.writeable = False
    return paint, keep


def render(scene: Scene, size: int = 32) -> np.ndarray:
    """The scene as a (size, size, 3) uint8 image; identical bytes for the same scene on every machine."""
    check_size(size)
    img = background(size, scene.pattern).copy()
    period = DESIGN // math.gcd(DESIGN, size)  # design units that span a whole number of pixels
    for o in scene.objects:
        dx, dy = o.x0 - o.x0 % period, o.y0 - o.y0 % period  # shift by whole pixels to a canonical corner
        paint, keep = _paint(replace(o, x0=o.x0 - dx, y0=o.y0 - dy), scene.light, size)
        px0, py0, px1, py1 = _pixel_box(o, size)
        if px0 < 0 or py0 < 0 or px1 > size or py1 > size:
            raise ConfigError(f"object {o} lies outside the {DESIGN} x {DESIGN} design grid; keep 0 <= x0 and "
                              f"x0 + w <= {DESIGN} (same for y)")
        region = img[py0:py1, px0:px1]
        img[py0:py1, px0:px1] = (region * keep + paint + 8) // 16  # mix in sixteenths of coverage
    return img
