"""A tiny built-in 5x7 bitmap font for the letters of the shapes world (no system font, so every machine draws
the same pixels). The renderer scales a glyph by whole design units; the scorer matches against the same grids."""

from __future__ import annotations

import numpy as np

_GLYPHS = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".####", "#....", "#....", "#....", "#....", "#....", ".####"),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
}
GLYPH_W, GLYPH_H = 5, 7


def glyph(letter: str) -> np.ndarray:
    """The 7x5 boolean grid of a capital letter of the world's alphabet."""
    return np.array([[c == "#" for c in row] for row in _GLYPHS[letter]], dtype=bool)


GLYPHS: dict[str, np.ndarray] = {k: glyph(k) for k in _GLYPHS}
