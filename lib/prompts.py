"""The benchmark prompt bank: five prompts, one per category, in our own words, with stable ids."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BenchmarkPrompt:
    """One prompt of the bank; `id` names its files in precomputed/."""

    id: str
    category: str
    prompt: str


BENCHMARK_PROMPTS: tuple[BenchmarkPrompt, ...] = (
    BenchmarkPrompt(
        "text",
        "text rendering",
        'A hand-painted wooden shop sign above a bakery door that reads "FRESH BREAD DAILY" in bold blue letters',
    ),
    BenchmarkPrompt(
        "photo",
        "photorealism",
        "Close-up photograph of an old fisherman's weathered face at dawn, soft side light, shallow depth of field",
    ),
    BenchmarkPrompt(
        "spatial",
        "spatial reasoning",
        "A green teapot on the left of a stack of three books, with a yellow lemon balanced on top of the books",
    ),
    BenchmarkPrompt(
        "style",
        "artistic style",
        "A lighthouse on a rocky coast during a storm, painted as a Japanese woodblock print with flat colours",
    ),
    BenchmarkPrompt(
        "composition",
        "compositional complexity",
        "A busy night market where a robot sells noodles to a cat in a raincoat, lanterns overhead, a bicycle in the rain",
    ),
)


# The same five categories in the shapes world (lib.shapes), for the trained miniatures: captions of its grammar,
# of attribute combinations the training saw (none is held out), so each image can be scored against its prompt.
SHAPES_PROMPTS: tuple[BenchmarkPrompt, ...] = (
    BenchmarkPrompt("text", "text rendering", "the letter H in red"),
    BenchmarkPrompt("photo", "photorealism", "a yellow circle lit from the left"),
    BenchmarkPrompt("spatial", "spatial reasoning", "a red circle above a blue square"),
    BenchmarkPrompt("style", "artistic style", "an outlined green square on a striped background"),
    BenchmarkPrompt("composition", "compositional complexity", "two purple triangles and an orange circle"),
)


def prompt_bank(shapes: bool = False) -> tuple[BenchmarkPrompt, ...]:
    """The real prompt bank, or its shapes-world counterpart (`shapes=True`, for the trained miniatures)."""
    return SHAPES_PROMPTS if shapes else BENCHMARK_PROMPTS


def prompt_by_id(prompt_id: str, shapes: bool = False) -> BenchmarkPrompt:
    """The bank's prompt with this id; KeyError lists the ids."""
    for p in prompt_bank(shapes):
        if p.id == prompt_id:
            return p
    raise KeyError(f"unknown prompt id {prompt_id!r}; known: {', '.join(p.id for p in BENCHMARK_PROMPTS)}")
