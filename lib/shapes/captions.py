"""Captions of the shapes world in plain English, and the parser that reads them back into a `SceneSpec`.

One small grammar serves both directions, so `parse(caption(scene)) == scene.spec()` holds by construction and
is tested:

    caption  := body ["on a" ("striped" | "dotted") "background"] [","] ["lit from" light]
    body     := np relation np | np ["," np]* ["and" np]
    np       := ("a" | "an") ["outlined"] colour shape | ("two" | "three") ["outlined"] colour shape "s"
              | "the letter" LETTER "in" colour
    relation := "to the left of" | "to the right of" | "above" | "below"
    light    := "the left" | "the right" | "above" | "below"
"""

from __future__ import annotations

import re

from lib.errors import DMEError
from lib.shapes.scene import COLOURS, LETTERS, SHAPES, GroupSpec, Scene, SceneSpec

NUMBERS = {2: "two", 3: "three"}
RELATION_WORDS = {"left of": "to the left of", "right of": "to the right of", "above": "above", "below": "below"}
LIGHT_WORDS = {"left": "the left", "right": "the right", "above": "above", "below": "below"}
PATTERN_WORDS = {"stripes": "striped", "dots": "dotted"}
_TOKEN = re.compile(r"[A-Za-z]+|,")


class PromptParseError(DMEError, ValueError):
    """A prompt outside the shapes grammar; the message says which word was unexpected and what would fit."""


def token_count(text: str) -> int:
    """Words and punctuation marks of a caption (a simple word tokenizer: 'a red circle, lit' -> 5)."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def _np(g: GroupSpec) -> str:
    if g.shape == "letter":
        return f"the letter {g.letter} in {g.colour}"
    words = ([] if g.filled else ["outlined"]) + [g.colour, g.shape + ("s" if g.count > 1 else "")]
    det = NUMBERS.get(g.count) or ("an" if words[0][0] in "aeiou" else "a")
    return " ".join([det] + words)


def describe(spec: SceneSpec) -> str:
    """The caption of a scene spec (the inverse of `parse`)."""
    nps = [_np(g) for g in spec.groups]
    if spec.relation is not None:
        body = f"{nps[0]} {RELATION_WORDS[spec.relation]} {nps[1]}"
    else:
        body = nps[0] if len(nps) == 1 else ", ".join(nps[:-1]) + " and " + nps[-1]
    if spec.pattern != "plain":
        body += f" on a {PATTERN_WORDS[spec.pattern]} background"
    if spec.light is not None:
        comma = "," if len(nps) > 1 or spec.pattern != "plain" else ""
        body += f"{comma} lit from {LIGHT_WORDS[spec.light]}"
    return body


def caption(scene: Scene) -> str:
    """The plain-English caption of a scene: what it shows, never where (except the spatial relation)."""
    return describe(scene.spec())


class _Reader:
    """A cursor over a prompt's tokens that raises PromptParseError naming the word it could not read."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.toks = _TOKEN.findall(prompt)
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j].lower() if j < len(self.toks) else None

    def fail(self, expected: str):
        found = "the end of the prompt" if self.peek() is None else f"{self.toks[self.i]!r}"
        raise PromptParseError(
            f"cannot parse prompt {self.prompt!r}: expected {expected} at word {self.i + 1}, found {found}. "
            "Prompts follow the shapes grammar, e.g. 'a red circle above a blue square' or "
            "'the letter A in green' (see lib.shapes.captions)")

    def take(self, *words: str) -> bool:
        """Consume the words if they come next; False (nothing consumed) otherwise."""
        if all(self.peek(k) == w for k, w in enumerate(words)):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.take(*words):
            self.fail(repr(" ".join(words)))

    def one_of(self, options, what: str) -> str:
        tok = self.peek()
        if tok not in options:
            self.fail(f"{what} ({', '.join(options)})")
        self.i += 1
        return tok


def _read_np(r: _Reader) -> GroupSpec:
    if r.take("the", "letter"):
        tok = r.peek()
        if tok is None or tok.upper() not in LETTERS:
            r.fail(f"a letter ({', '.join(LETTERS)})")
        r.i += 1
        r.expect("in")
        return GroupSpec(1, r.one_of(tuple(COLOURS), "a colour"), "letter", True, tok.upper())
    det = r.one_of(("a", "an", "two", "three"), "'a', 'an', 'two', 'three' or 'the letter'")
    count = {"a": 1, "an": 1, "two": 2, "three": 3}[det]
    filled = not r.take("outlined")
    colour = r.one_of(tuple(COLOURS), "a colour")
    shapes = SHAPES if count == 1 else tuple(s + "s" for s in SHAPES)
    shape = r.one_of(shapes, "a shape")
    return GroupSpec(count, colour, shape.rstrip("s") if count > 1 else shape, filled)


def parse(prompt: str) -> SceneSpec:
    """The scene spec a prompt of the shapes grammar describes; PromptParseError for anything else."""
    r = _Reader(prompt.strip().rstrip("."))
    groups = [_read_np(r)]
    relation = None
    for name, words in RELATION_WORDS.items():
        if r.take(*words.split()):
            relation = name
            groups.append(_read_np(r))
            if groups[0].count > 1 or groups[1].count > 1:
                r.i -= 1
                r.fail("a single object on each side of a relation")
            break
    else:
        while r.peek() == "," and r.peek(1) not in ("and", "lit", None):
            r.take(",")
            groups.append(_read_np(r))
        if r.take("and") or r.take(",", "and"):
            groups.append(_read_np(r))
        elif len(groups) > 1:
            r.fail("'and' before the last object")
    pattern = "plain"
    if r.take("on", "a"):
        pattern = {"striped": "stripes", "dotted": "dots"}[r.one_of(("striped", "dotted"), "a pattern")]
        r.expect("background")
    light = None
    if r.take("lit", "from") or r.take(",", "lit", "from"):
        light = {"the left": "left", "the right": "right", "above": "above", "below": "below"}[
            "the " + r.one_of(("left", "right"), "'left' or 'right'") if r.take("the")
            else r.one_of(("above", "below"), "'the left', 'the right', 'above' or 'below'")]
    if r.peek() is not None:
        r.fail("the end of the prompt")
    return SceneSpec(tuple(groups), relation, pattern, light)
