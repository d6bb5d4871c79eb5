"""Side-by-side and grid pictures of SD3 vs FLUX images, labeled (miniature output says so on the image)."""

from __future__ import annotations

from PIL import Image, ImageDraw

CELL = 128  # pixels per image in the grid; miniature 64x64 images are scaled up without smoothing
LABEL_H = 26  # two lines of PIL's default font


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, width: int = 20) -> None:
    """Text wrapped at spaces into lines of at most `width` characters."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    draw.multiline_text(xy, "\n".join(lines + [line]), fill=(20, 20, 20), spacing=1)


def _fit(image: Image.Image) -> Image.Image:
    return image.convert("RGB").resize((CELL, CELL), Image.NEAREST)


def side_by_side(left: Image.Image, right: Image.Image, titles: tuple[str, str], caption: str) -> Image.Image:
    """Two images next to each other with a title over each and a caption line below."""
    out = Image.new("RGB", (2 * CELL, CELL + 2 * LABEL_H), "white")
    draw = ImageDraw.Draw(out)
    for i, (img, title) in enumerate(zip((left, right), titles)):
        out.paste(_fit(img), (i * CELL, LABEL_H))
        _label(draw, (i * CELL + 3, 2), title)
    _label(draw, (3, CELL + LABEL_H + 2), caption, 40)
    return out


def comparison_grid(rows: list[tuple[str, Image.Image, Image.Image]], titles: tuple[str, str], note: str) -> Image.Image:
    """One row per prompt (row label, left image, right image), column titles on top, a note at the bottom."""
    label_w = 90
    out = Image.new("RGB", (label_w + 2 * CELL, LABEL_H + len(rows) * CELL + LABEL_H), "white")
    draw = ImageDraw.Draw(out)
    for i, title in enumerate(titles):
        _label(draw, (label_w + i * CELL + 3, 2), title)
    for r, (name, left, right) in enumerate(rows):
        y = LABEL_H + r * CELL
        _label(draw, (3, y + CELL // 2 - 12), name, 14)
        out.paste(_fit(left), (label_w, y))
        out.paste(_fit(right), (label_w + CELL, y))
    _label(draw, (3, LABEL_H + len(rows) * CELL + 2), note, 56)
    return out
