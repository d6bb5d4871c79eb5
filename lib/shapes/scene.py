"""The shapes world's vocabulary and its ground truth: what a scene holds, and what a caption says of it.

A `Scene` is the full truth of one image (every object with its place and size); a `SceneSpec` is only what a
caption says (which objects, how many, the relation, the style, the light). `Scene.spec()` forgets the geometry,
so `parse(caption(scene)) == scene.spec()` is the contract between the caption grammar and its parser.
Geometry lives on a 32-unit design grid in integers, whatever size the image is rendered at.
"""

from __future__ import annotations

from dataclasses import dataclass

DESIGN = 32  # the design grid: every coordinate is an integer in [0, 32]; rendering scales it to the image size

# The palette: saturated colours whose hues are at least ~25 degrees apart, on a neutral light background, so a
# scorer can find objects by saturation and name them by hue even when a shading gradient darkens them.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 30, 45),
    "orange": (245, 120, 20),
    "yellow": (230, 220, 20),
    "green": (30, 175, 55),
    "blue": (35, 85, 230),
    "purple": (150, 45, 205),
}
SHAPES = ("circle", "square", "triangle")
LETTERS = ("A", "B", "C", "E", "H", "L", "T", "X")
RELATIONS = ("left of", "right of", "above", "below")
PATTERNS = ("plain", "stripes", "dots")
LIGHTS = ("left", "right", "above", "below")
CATEGORIES = ("text", "spatial", "composition", "style", "photo")  # the prompt bank's five, in miniature

BACKGROUND = (238, 238, 238)  # neutral: no hue, so no object colour can be mistaken for it
PATTERN_INK = (178, 178, 178)  # stripes and dots: neutral too, darker than the background


@dataclass(frozen=True)
class Obj:
    """One object: a shape or a letter glyph, its colour and fill, and its box on the 32-unit design grid."""

    shape: str  # one of SHAPES, or "letter"
    colour: str
    x0: int
    y0: int
    w: int
    h: int
    filled: bool = True
    letter: str | None = None

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) on the design grid, x1/y1 exclusive."""
        return self.x0, self.y0, self.x0 + self.w, self.y0 + self.h

    @property
    def centre(self) -> tuple[float, float]:
        """Centre (x, y) as fractions of the image width and height."""
        return (self.x0 + self.w / 2) / DESIGN, (self.y0 + self.h / 2) / DESIGN

    @property
    def size(self) -> int:
        """The larger side on the design grid."""
        return max(self.w, self.h)

    def key(self) -> tuple[str, str, bool, str | None]:
        """What a caption names of this object: objects with equal keys are counted together."""
        return self.shape, self.colour, self.filled, self.letter


@dataclass(frozen=True)
class GroupSpec:
    """`count` objects that a caption names together ("two outlined red circles", "the letter A in blue")."""

    count: int
    colour: str
    shape: str
    filled: bool = True
    letter: str | None = None


@dataclass(frozen=True)
class SceneSpec:
    """What a caption says: the groups in caption order, the relation between the first two, style and light."""

    groups: tuple[GroupSpec, ...]
    relation: str | None = None
    pattern: str = "plain"
    light: str | None = None

    @property
    def n_objects(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def is_text(self) -> bool:
        return any(g.shape == "letter" for g in self.groups)


@dataclass(frozen=True)
class Scene:
    """The ground truth of one image: its objects (caption order), relation, background pattern and light."""

    category: str
    objects: tuple[Obj, ...]
    relation: str | None = None  # objects[0] <relation> objects[1]
    pattern: str = "plain"
    light: str | None = None  # the side the light comes from; None: flat colour

    def spec(self) -> SceneSpec:
        """The scene as its caption describes it: consecutive objects with equal keys become one group."""
        groups: list[GroupSpec] = []
        for o in self.objects:
            last = groups[-1] if groups else None
            if last is not None and (last.shape, last.colour, last.filled, last.letter) == o.key():
                groups[-1] = GroupSpec(last.count + 1, o.colour, o.shape, o.filled, o.letter)
            else:
                groups.append(GroupSpec(1, o.colour, o.shape, o.filled, o.letter))
        return SceneSpec(tuple(groups), self.relation, self.pattern, self.light)
