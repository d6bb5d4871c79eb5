"""The caption grammar: captions parse back to the scene they describe, prompts outside the grammar fail with a
message that names the word, and the grammar reaches captions long enough to be truncated."""

from __future__ import annotations

import pytest

from lib.shapes import CATEGORIES, GroupSpec, PromptParseError, SceneSpec, caption, parse, sample_scene, token_count
from lib.errors import DMEError


def test_parse_of_caption_is_the_scene_spec_in_every_category_and_split():
    for cat in CATEGORIES:
        for split in ("train", "heldout"):
            for seed in range(150):
                scene = sample_scene(seed, split, cat)
                assert parse(caption(scene)) == scene.spec(), caption(scene)


@pytest.mark.parametrize("prompt, spec", [
    ("the letter A in red", SceneSpec((GroupSpec(1, "red", "letter", True, "A"),))),
    ("a red circle above a blue square",
     SceneSpec((GroupSpec(1, "red", "circle"), GroupSpec(1, "blue", "square")), relation="above")),
    ("a yellow square to the right of an orange triangle",
     SceneSpec((GroupSpec(1, "yellow", "square"), GroupSpec(1, "orange", "triangle")), relation="right of")),
    ("a green triangle, a purple circle and a yellow square",
     SceneSpec((GroupSpec(1, "green", "triangle"), GroupSpec(1, "purple", "circle"),
                GroupSpec(1, "yellow", "square")))),
    ("two red circles and an outlined blue square",
     SceneSpec((GroupSpec(2, "red", "circle"), GroupSpec(1, "blue", "square", False)))),
    ("an outlined orange square", SceneSpec((GroupSpec(1, "orange", "square", False),))),
    ("a red circle on a striped background", SceneSpec((GroupSpec(1, "red", "circle"),), pattern="stripes")),
    ("a red circle lit from the left", SceneSpec((GroupSpec(1, "red", "circle"),), light="left")),
    ("A Red Circle, and a blue square on a dotted background, lit from above.",
     SceneSpec((GroupSpec(1, "red", "circle"), GroupSpec(1, "blue", "square")), pattern="dots", light="above")),
])
def test_hand_written_prompts_parse_to_their_meaning(prompt, spec):
    assert parse(prompt) == spec


@pytest.mark.parametrize("prompt, word, expected", [
    ("a pink circle", "'pink'", "a colour"),
    ("a red hexagon", "'hexagon'", "a shape"),
    ("a red circle beside a blue square", "'beside'", "the end of the prompt"),
    ("the letter Q in red", "'Q'", "a letter"),
    ("two red circle", "'circle'", "a shape"),
    ("a red circle, a blue square", "the end of the prompt", "'and' before the last object"),
    ("a red circle lit from behind", "'behind'", "'the left', 'the right', 'above' or 'below'"),
    ("two red circles above a blue square", "'square'", "a single object on each side"),
    ("", "the end of the prompt", "'a', 'an'"),
])
def test_prompts_outside_the_grammar_raise_one_clear_error(prompt, word, expected):
    with pytest.raises(PromptParseError) as err:
        parse(prompt)
    msg = str(err.value)
    assert f"found {word}" in msg and expected in msg and "shapes grammar" in msg
    assert isinstance(err.value, DMEError) and isinstance(err.value, ValueError)


def test_token_count_counts_words_and_punctuation():
    assert token_count("a red circle, lit from the left") == 8
    assert token_count("the letter A in red") == 5


def test_the_grammar_reaches_long_multi_clause_captions():
    captions = [caption(sample_scene(s, "train", "composition")) for s in range(300)]
    assert max(token_count(c) for c in captions) >= 18  # beyond a 16-token text encoder context
    assert any("," in c and " and " in c and "background" in c and "lit from" in c for c in captions)
    assert {token_count(caption(sample_scene(s, "train", "text"))) for s in range(20)} == {5}
