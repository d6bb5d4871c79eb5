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


def prompt_by_id(prompt_id: str) -> BenchmarkPrompt:
    """The bank's prompt with this id; KeyError lists the ids."""
    for p in BENCHMARK_PROMPTS:
        if p.id == prompt_id:
            return p
    raise KeyError(f"unknown prompt id {prompt_id!r}; known: {', '.join(p.id for p in BENCHMARK_PROMPTS)}")
