"""DiffusionConfig: presets fill defaults, and every invalid value raises ConfigError saying what is allowed."""

import pytest

from lib.config import MAX_STEPS, PRESETS, DiffusionConfig
from lib.errors import ConfigError, DMEError


def test_presets_fill_the_published_defaults():
    sd3 = DiffusionConfig("sd3-medium", "a cat")
    flux = DiffusionConfig("flux-schnell", "a cat")
    assert (sd3.steps, sd3.guidance, sd3.quantization) == (28, 7.0, "none")
    assert (flux.steps, flux.guidance, flux.quantization, flux.max_sequence_length) == (4, 0.0, "Q4_K_S", 256)
    assert PRESETS["flux-schnell"].quantizations["Q4_K_S"] == "flux1-schnell-Q4_K_S.gguf"
    assert DiffusionConfig("sd3-medium", "a cat", miniature=True).height == 64


@pytest.mark.parametrize(
    "changes, says",
    [
        ({"model": "sdxl"}, "known models: sd3-medium, flux-schnell"),
        ({"height": 500}, "multiple of 16"),
        ({"width": 4096}, "between 256 and 1536"),
        ({"steps": 0}, ">= 1"),
        ({"prompt": "  "}, "prompt is empty"),
        ({"model": "flux-schnell", "guidance": 3.5}, "guidance-distilled"),
        ({"model": "flux-schnell", "quantization": "Q3_X"}, "allowed: none, Q8_0"),
        ({"quantization": "Q4_K_S"}, "allowed: none"),
        ({"model": "flux-schnell", "dtype": "float16"}, "float16"),
        ({"dtype": "int8"}, "allowed: auto"),
        ({"offload": "disk"}, "allowed: none, model, sequential"),
        ({"model": "flux-schnell", "drop_t5": True}, "only for sd3-medium"),
        ({"max_sequence_length": 1000}, "between 1 and 512"),
        ({"seed": -1}, "seed"),
    ],
)
def test_invalid_values_raise_config_error_naming_what_is_allowed(changes, says):
    base = {"model": "sd3-medium", "prompt": "a cat"}
    with pytest.raises(ConfigError) as err:
        DiffusionConfig(**{**base, **changes})
    assert says in str(err.value)
    assert isinstance(err.value, DMEError)


@pytest.mark.parametrize("model", list(PRESETS))
@pytest.mark.parametrize("steps", [MAX_STEPS + 1, 2800, 10**9])
def test_steps_above_the_bound_name_the_bound_and_the_model_default(model, steps):
    with pytest.raises(ConfigError) as err:
        DiffusionConfig(model, "a cat", steps=steps)
    msg = str(err.value)
    assert f"at most {MAX_STEPS}" in msg and f"got {steps}" in msg
    assert f"{model} uses {PRESETS[model].steps}" in msg


@pytest.mark.parametrize("seed", [-1, 2**64, 2**70, 1.5, "42", True])
def test_seeds_outside_torch_generator_range_are_refused(seed):
    with pytest.raises(ConfigError, match=r"seed must be an integer from 0 to 2\*\*64 - 1.*torch"):
        DiffusionConfig("sd3-medium", "a cat", seed=seed)


@pytest.mark.parametrize("steps, seed", [(1, 0), (MAX_STEPS, 2**64 - 1)])
def test_bounds_themselves_are_allowed_and_the_largest_seed_seeds_a_torch_generator(steps, seed):
    import torch

    c = DiffusionConfig("sd3-medium", "a cat", steps=steps, seed=seed)
    assert (c.steps, c.seed) == (steps, seed)
    torch.Generator().manual_seed(c.seed)  # accepted by torch, as the bound promises


def test_changes_through_with_are_validated_again():
    c = DiffusionConfig("sd3-medium", "a cat")
    assert c.with_(steps=4).steps == 4
    with pytest.raises(ConfigError):
        c.with_(steps=0)


def test_miniature_sizes_have_their_own_range():
    assert DiffusionConfig("flux-schnell", "x", miniature=True, height=32, width=48).width == 48
    with pytest.raises(ConfigError, match="miniature"):
        DiffusionConfig("flux-schnell", "x", miniature=True, height=512)
