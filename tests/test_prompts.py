"""The prompt bank: five prompts, one per category, unique ids."""

import pytest

from lib.prompts import BENCHMARK_PROMPTS, prompt_by_id


def test_one_prompt_per_category_with_unique_ids():
    cats = [p.category for p in BENCHMARK_PROMPTS]
    assert sorted(cats) == sorted(["text rendering", "photorealism", "spatial reasoning", "artistic style",
                                   "compositional complexity"])
    assert len({p.id for p in BENCHMARK_PROMPTS}) == 5
    assert all(p.prompt.strip() for p in BENCHMARK_PROMPTS)


def test_prompt_by_id_lists_known_ids_on_a_miss():
    assert prompt_by_id("text").category == "text rendering"
    with pytest.raises(KeyError, match="photo"):
        prompt_by_id("nope")
