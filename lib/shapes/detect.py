"""What is in an image of the shapes world, found by classical image analysis (the scorer's eyes).

Objects are the connected regions of saturated pixels (the background and its patterns are neutral grey),
named by their mean hue in the fixed palette, typed by fitting ideal circle/square/triangle silhouettes to their
convex hull (IoU), read as letters by matching the world's own bitmap font; the light comes from the slope of
the shading across them, the background pattern from how its grey levels vary along lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from lib.errors import ConfigError
from lib.shapes.font import GLYPH_H, GLYPH_W, GLYPHS
from lib.shapes.scene import BACKGROUND, COLOURS

CHROMA_MIN = 30.0  # max - min channel (0..255): palette colours keep > 55 even in the darkest shade
# The thresholds below were set on ground-truth renders with noise and blur (`python -m lib.shapes validate`).
SAT_MIN = 0.3  # chroma / max: neutral background plus noise sigma 0.05 stays far below
MIN_AREA = 12  # pixels at 32 x 32 (scaled with the image area): smaller regions are noise or blended edges
FILLED_MIN = 0.8  # region area / its convex hull's area: an outline leaves a hole
LIGHT_MIN = 0.28  # change of the shading factor across an object, over its mean, that counts as lit
PLAIN_STD = 16.0  # background luminance std (0..255) below which the background is plain
STRIPES_MAX = 0.45  # within-line / total background variance along the best of 4 directions: stripes below


def _hue(rgb: np.ndarray) -> np.ndarray:
    """Hue angle in degrees from opponent axes (R - (G+B)/2, sqrt(3)/2 (G - B)): scaling RGB keeps it."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.degrees(np.arctan2(np.sqrt(3) / 2 * (g - b), r - (g + b) / 2)) % 360


_PALETTE_NAMES = tuple(COLOURS)
_PALETTE_HUES = _hue(np.array([COLOURS[c] for c in _PALETTE_NAMES], float))


def nearest_colour(hue: np.ndarray) -> np.ndarray:
    """Index into the palette of the nearest hue (circular distance)."""
    d = np.abs((np.asarray(hue)[..., None] - _PALETTE_HUES + 180) % 360 - 180)
    return d.argmin(-1)


@dataclass(frozen=True)
class Detected:
    """One object the scorer found: palette colour, shape, fill, area in pixels, centroid (fractions of the
    width and height, like `Obj.centre`), pixel box, the region itself and its shading gradient."""

    colour: str
    shape: str
    filled: bool
    area: int
    centre: tuple[float, float]
    bbox: tuple[int, int, int, int]  # pixel box x0, y0, x1, y1 (exclusive)
    mask: np.ndarray  # the region, cropped to bbox
    gradient: tuple[float, float]  # change of the shading factor across the object (x, y), over its mean


@dataclass(frozen=True)
class Analysis:
    """What the scorer sees in an image: its objects (largest first), background pattern and light."""

    objects: tuple[Detected, ...]
    pattern: str
    light: str | None


def _cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def hull_mask(mask: np.ndarray) -> np.ndarray:
    """The region's convex hull, rasterised at pixel centres: all the world's shapes are convex, so this is
    the filled shape even when an outline is broken in places. Andrew's monotone chain on each row's end
    pixels, in integers."""
    h, w = mask.shape
    rows = np.nonzero(mask.any(1))[0]
    first = mask[rows].argmax(1)
    last = w - 1 - mask[rows, ::-1].argmax(1)
    pts = sorted(set(zip(first.tolist(), rows.tolist())) | set(zip(last.tolist(), rows.tolist())))
    if len(pts) < 3:
        return mask.copy()
    lower: list[tuple[int, int]] = []
    upper: list[tuple[int, int]] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    if len(hull) < 3:
        return mask.copy()
    yy, xx = np.mgrid[0:h, 0:w]
    inside = np.ones((h, w), bool)
    for (px, py), (qx, qy) in zip(hull, hull[1:] + hull[:1]):
        inside &= (qx - px) * (yy - py) - (qy - py) * (xx - px) >= 0
    return inside | mask


def classify_shape(filled: np.ndarray) -> str:
    """The shape whose ideal silhouette, given the region's centroid and area, overlaps it best (IoU).

    Fitting by centroid and area rather than by bounding box keeps a stray edge pixel from stretching the
    template; squares are axis-aligned and triangles upright, as the world draws them."""
    pad = 3
    m = np.pad(filled, pad)
    ys, xs = np.nonzero(m)
    area, cy, cx = float(len(xs)), ys.mean() + 0.5, xs.mean() + 0.5
    y = np.arange(m.shape[0])[:, None] + 0.5
    x = np.arange(m.shape[1])[None, :] + 0.5
    side = np.sqrt(area)
    tri = np.sqrt(2 * area)  # upright isosceles, base = height: centroid at 2/3 of the height from the apex
    apex = cy - 2 * tri / 3
    templates = {
        "square": (np.abs(x - cx) <= side / 2) & (np.abs(y - cy) <= side / 2),
        "circle": (x - cx) ** 2 + (y - cy) ** 2 <= area / np.pi,
        "triangle": (y >= apex) & (y <= apex + tri) & (np.abs(x - cx) <= (y - apex) / 2),
    }
    ious = {k: (t & m).sum() / max((t | m).sum(), 1) for k, t in templates.items()}
    return max(ious, key=ious.get)


def read_letter(mask: np.ndarray) -> str:
    """The letter of the world's font whose 5 x 7 grid best matches the region's coverage per grid cell."""
    h, w = mask.shape
    rows = np.minimum(np.arange(h) * GLYPH_H // h, GLYPH_H - 1)
    cols = np.minimum(np.arange(w) * GLYPH_W // w, GLYPH_W - 1)
    cell = rows[:, None] * GLYPH_W + cols[None, :]
    cover = np.bincount(cell.ravel(), mask.ravel().astype(float), GLYPH_H * GLYPH_W)
    cover /= np.maximum(np.bincount(cell.ravel(), minlength=GLYPH_H * GLYPH_W), 1)
    scores = {k: float(((cover - 0.5) * (2.0 * g.ravel() - 1)).sum()) for k, g in GLYPHS.items()}
    return max(scores, key=scores.get)


def _shade(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, colour: str, bg: float) -> tuple[np.ndarray, ...]:
    """Per-pixel shading factor f and coverage alpha of a region, unmixed from the background.

    A pixel is alpha * f * c + (1 - alpha) * g for the palette colour c and a neutral background level g, so its
    deviation from its own channel mean is alpha * f times c's (least squares over the 3 channels) and its
    mean then gives alpha. Dividing out alpha keeps anti-aliased and blurred edges from looking bright or dark.
    """
    c = np.array(COLOURS[colour], float)
    p = img[ys, xs]
    dc = c - c.mean()
    af = (p - p.mean(1, keepdims=True)) @ dc / (dc @ dc)
    alpha = np.clip(1 - (p.mean(1) - af * c.mean()) / max(bg, 1.0), 0.0, 1.0)
    return af / np.maximum(alpha, 1e-3), alpha


def _gradient(shade: tuple[np.ndarray, np.ndarray], ys: np.ndarray, xs: np.ndarray) -> tuple[float, float]:
    """Slope of the shading factor over the region (alpha-weighted least squares), times the region's extent,
    over its mean: about -0.8 across an object lit from the left or top, about 0 for a flat one."""
    f, alpha = shade
    keep = alpha > 0.5
    if keep.sum() < 4:
        return 0.0, 0.0
    f, wts, x, y = f[keep], alpha[keep], xs[keep].astype(float), ys[keep].astype(float)
    x, y = x - np.average(x, weights=wts), y - np.average(y, weights=wts)
    sxx, syy, sxy = (wts * x * x).sum(), (wts * y * y).sum(), (wts * x * y).sum()
    sxf, syf = (wts * x * f).sum(), (wts * y * f).sum()
    det = sxx * syy - sxy * sxy
    if det <= 1e-9:
        return 0.0, 0.0
    gx, gy = (syy * sxf - sxy * syf) / det, (sxx * syf - sxy * sxf) / det  # weighted least squares, 2 x 2
    mean = max(float(np.average(f, weights=wts)), 1e-3)
    return float(gx * (np.ptp(xs) + 1) / mean), float(gy * (np.ptp(ys) + 1) / mean)


def _regions(colourful: np.ndarray, labels_px: np.ndarray, min_area: int) -> list[np.ndarray]:
    """Connected regions of saturated pixels; a region holding two palette colours in force is split in two."""
    eight = np.ones((3, 3), bool)
    lab, n = ndimage.label(colourful, eight)
    out = []
    for k, sl in enumerate(ndimage.find_objects(lab), 1):
        full = np.zeros_like(colourful)
        full[sl] = lab[sl] == k
        area = int(full.sum())
        if area < min_area:
            continue
        counts = np.bincount(labels_px[full], minlength=len(_PALETTE_NAMES))
        strong = [c for c in np.nonzero(counts >= max(min_area, 0.25 * area))[0]]
        if len(strong) < 2:
            out.append(full)
            continue
        for c in strong:  # touching objects of different colours (a model's image may have them)
            sub, m = ndimage.label(full & (labels_px == c), eight)
            sizes = np.bincount(sub.ravel())[1:]
            if m and sizes.max() >= min_area:
                out.append(sub == 1 + int(sizes.argmax()))
    return out


def _pattern(lum: np.ndarray, background: np.ndarray) -> str:
    """plain, stripes or dots: total spread of background luminance, then its spread along lines."""
    vals = lum[background]
    if len(vals) < 16 or vals.std() < PLAIN_STD:
        return "plain"
    total = vals.var()
    h, w = lum.shape
    i, j = np.mgrid[0:h, 0:w]
    fractions = []
    for line in (i, j, i + j, i - j + w):  # rows, columns, both diagonals
        ids = line[background]
        n = np.bincount(ids)
        s1, s2 = np.bincount(ids, vals), np.bincount(ids, vals * vals)
        ok = n > 1
        within = (s2[ok] - s1[ok] ** 2 / n[ok]).sum() / max(n[ok].sum(), 1)
        fractions.append(within / total)
    return "stripes" if min(fractions) < STRIPES_MAX else "dots"


def as_pixels(image) -> np.ndarray:
    """An (H, W, 3) image as float64 in 0..255: uint8 as is, floats in [0, 1] (a pipeline's "np" output) scaled."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 8:
        raise ConfigError(f"expected an image of shape (H, W, 3) with H, W >= 8, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float64)
    if np.issubdtype(img.dtype, np.floating) and np.nanmin(img) >= 0.0 and np.nanmax(img) <= 1.0:
        return np.nan_to_num(img.astype(np.float64)) * 255.0
    raise ConfigError(f"expected uint8 pixels or floats in [0, 1], got {img.dtype} in "
                      f"[{np.nanmin(img)}, {np.nanmax(img)}]")


def analyse(image: np.ndarray) -> Analysis:
    """Objects, background pattern and light of an (H, W, 3) uint8 image of the shapes world."""
    img = as_pixels(image)
    h, w = img.shape[:2]
    mx, mn = img.max(-1), img.min(-1)
    chroma = mx - mn
    colourful = (chroma >= CHROMA_MIN) & (chroma >= SAT_MIN * np.maximum(mx, 1))
    hue = _hue(img)
    labels_px = nearest_colour(hue)
    min_area = max(3, MIN_AREA * h * w // 1024)
    near = ndimage.binary_dilation(colourful, np.ones((3, 3), bool), iterations=2)
    lum = img.mean(-1)
    bg = float(np.median(lum[~near])) if (~near).any() else float(np.mean(BACKGROUND))
    objects = []
    for region in _regions(colourful, labels_px, min_area):
        ys, xs = np.nonzero(region)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        crop = region[y0:y1, x0:x1]
        hull = hull_mask(crop)
        weights = chroma[ys, xs]
        ang = np.radians(hue[ys, xs])
        mean_hue = np.degrees(np.arctan2((weights * np.sin(ang)).sum(), (weights * np.cos(ang)).sum()))
        colour = _PALETTE_NAMES[int(nearest_colour(mean_hue % 360))]
        objects.append(Detected(
            colour=colour,
            shape=classify_shape(hull),
            filled=bool(crop.sum() >= FILLED_MIN * hull.sum()),
            area=int(region.sum()),
            centre=(float(xs.mean() + 0.5) / w, float(ys.mean() + 0.5) / h),
            bbox=(int(x0), int(y0), int(x1), int(y1)),
            mask=crop,
            gradient=_gradient(_shade(img, ys, xs, colour, bg), ys, xs),
        ))
    objects.sort(key=lambda d: -d.area)
    pattern = _pattern(lum, ~near)
    return Analysis(tuple(objects), pattern, _light(objects))


def _light(objects: list[Detected]) -> str | None:
    """The side the light comes from, from the area-weighted mean brightness gradient; None when flat."""
    if not objects:
        return None
    wsum = sum(d.area for d in objects)
    gx = sum(d.gradient[0] * d.area for d in objects) / wsum
    gy = sum(d.gradient[1] * d.area for d in objects) / wsum
    if max(abs(gx), abs(gy)) < LIGHT_MIN:
        return None
    if abs(gx) >= abs(gy):
        return "left" if gx < 0 else "right"  # brighter towards the light
    return "above" if gy < 0 else "below"
