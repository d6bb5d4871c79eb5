"""Parameter counts of the real architectures, built from their published configs on the meta device."""

import inspect

import pytest

from lib import mac_memory
from lib.architectures import params, specs

KNOWN = [
    ("sd3", "MMDiT", 2_028_328_000),
    ("flux_schnell", "FLUX transformer", 11_891_178_560),
    ("flux_dev", "FLUX transformer", 11_901_408_320),
    ("sd3", "VAE (16 ch)", 83_819_683),
    ("flux_schnell", "VAE (16 ch)", 83_819_683),
    ("sd15", "U-Net", 859_520_964),
    ("sd3", "CLIP-L", 123_650_304),
    ("sd3", "CLIP-G", 694_659_840),
    ("sd3", "T5-XXL", 4_762_310_656),
]


@pytest.mark.parametrize("model, name, expected", KNOWN)
def test_component_parameter_count_equals_known_value(model, name, expected):
    assert params.component_params(params.component(model, name)) == expected


def test_meta_build_allocates_no_memory():
    flux = params.denoiser("flux_schnell")
    assert all(p.device.type == "meta" for p in flux.parameters())


def test_running_page_weight_sizes_come_from_the_computed_counts():
    """The memory table of "Running this book" is built on these counts: 2 bytes per weight in fp16, except T5's
    `wo` layers, which transformers keeps in fp32 when it loads T5 in fp16 (2 more bytes each)."""
    from lib.architectures.specs import T5_XXL
    from lib.plan import t5_fp32_weights

    sd3_all = next(s for s in mac_memory.model_setups() if s.name == "SD3 Medium, fp16, with T5")
    counts = params.model_params("sd3")
    expected = 2 * sum(counts[k] for k in ("CLIP-L", "CLIP-G", "T5-XXL", "MMDiT", "VAE (16 ch)"))
    assert sd3_all.all_loaded == expected + 2 * t5_fp32_weights(T5_XXL)
    assert t5_fp32_weights(T5_XXL) == 24 * 4096 * 10240  # one wo (d_ff -> d_model) per encoder layer


def test_bfl_layout_keeps_every_parameter_and_fuses_qkv():
    diff = params.flux_schnell_named_shapes("diffusers")
    bfl = params.flux_schnell_named_shapes("bfl")
    total = lambda s: sum(__import__("math").prod(v) for v in s.values())  # noqa: E731
    assert total(bfl) == total(diff) == 11_891_178_560
    assert bfl["double_blocks.0.img_attn.qkv.weight"] == (9216, 3072)
    assert bfl["single_blocks.37.linear1.weight"] == (21504, 3072)
    assert len(bfl) == 776


@pytest.mark.parametrize("pipeline, key", [
    ("StableDiffusionPipeline", "sd15"), ("StableDiffusionXLPipeline", "sdxl"), ("StableDiffusion3Pipeline", "sd3"),
])
def test_typical_steps_said_to_be_diffusers_defaults_are(pipeline, key):
    import diffusers

    default = inspect.signature(getattr(diffusers, pipeline).__call__).parameters["num_inference_steps"].default
    spec = specs.MODELS[key]
    assert "default" in spec.steps_source and spec.steps == default


def test_unknown_names_raise_a_clear_error():
    with pytest.raises(params.ArchitectureError, match="use one of"):
        params.spec("sd4")
    with pytest.raises(params.ArchitectureError, match="has no component"):
        params.component("sd15", "T5-XXL")
