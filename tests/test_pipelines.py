"""load_pipeline/generate on the miniature SD3 (T5, drop-T5) and FLUX (GGUF) models: real diffusers classes."""

import weakref

import numpy as np
import pytest
import torch

from lib.config import DiffusionConfig
from lib.errors import ConfigError, DeviceError, OutputError
from lib.pipelines import generate, generate_many, load_pipeline

PROMPT = "a green teapot on the left of three books"


@pytest.fixture(scope="module")
def mini(miniatures):
    torch.set_num_threads(1)  # tiny matrices: threads only add waiting on shared cores
    return miniatures  # the shared session fixture (tests/conftest.py)


def _config(model, **kw):
    return DiffusionConfig(model, PROMPT, miniature=True, **kw)


@pytest.mark.parametrize("model, kw", [("sd3-medium", {}), ("sd3-medium", {"drop_t5": True}),
                                        ("flux-schnell", {}), ("flux-schnell", {"quantization": "Q8_0"})])
def test_miniatures_generate_64px_deterministically_per_seed(mini, model, kw):
    c = _config(model, **kw)
    loaded = load_pipeline(c, mini)
    first, again, other = (np.asarray(generate(loaded, c.with_(seed=s)).image) for s in (1, 1, 2))
    assert first.shape == (64, 64, 3)
    assert (first == again).all()
    assert not (first == other).all()
    assert loaded.source == "miniature"


def test_flux_transformer_comes_from_the_gguf_file(mini):
    loaded = load_pipeline(_config("flux-schnell"), mini)  # default Q4_K_S -> the miniature Q4_K file
    assert loaded.weights.gguf == mini.gguf["Q4_K"]
    assert any(type(p).__name__ == "GGUFParameter" for p in loaded.pipe.transformer.parameters())


def test_staged_and_unstaged_and_plain_diffusers_give_the_same_image(mini):
    c = _config("sd3-medium", steps=4)
    images = [np.asarray(generate(load_pipeline(c.with_(staged=s), mini)).image) for s in (True, False)]
    loaded = load_pipeline(c.with_(staged=False), mini)
    plain = loaded.pipe(c.prompt, height=64, width=64, num_inference_steps=4, guidance_scale=c.guidance,
                        generator=torch.Generator("cpu").manual_seed(c.seed)).images[0]
    assert (images[0] == images[1]).all() and (images[0] == np.asarray(plain)).all()


@pytest.mark.parametrize("model", ["sd3-medium", "flux-schnell"])
def test_staged_execution_frees_text_encoders_before_the_first_denoising_step(mini, model):
    c = _config(model)
    loaded = load_pipeline(c, mini)
    refs = [weakref.ref(getattr(loaded.pipe, n)) for n in loaded.text_encoder_names]
    alive_at_first_forward = []
    hook = loaded.pipe.transformer.register_forward_pre_hook(
        lambda *_: alive_at_first_forward.append([r() is not None for r in refs]) if not alive_at_first_forward else None)
    result = generate(loaded, c)
    hook.remove()
    assert alive_at_first_forward == [[False] * len(refs)]
    stages = {s.name: s for s in result.stages}
    assert stages["denoising"].weights_bytes < stages["text_encoding"].weights_bytes
    # the next generate reloads the encoders from the snapshot
    assert np.asarray(generate(loaded, c).image).shape == (64, 64, 3)


def test_unstaged_keeps_the_text_encoders(mini):
    c = _config("flux-schnell", staged=False)
    loaded = load_pipeline(c, mini)
    result = generate(loaded, c)
    assert loaded.text_encoders_loaded()
    assert result.stages[1].weights_bytes == result.stages[0].weights_bytes


def test_batch_encodes_all_prompts_then_denoises(mini):
    c = _config("flux-schnell")
    loaded = load_pipeline(c, mini)
    results = generate_many(loaded, [c, c.with_(prompt="a lighthouse"), c.with_(steps=1)])
    assert [r.config.steps for r in results] == [4, 4, 1]
    assert [s.name for s in results[0].stages] == ["text_encoding", "denoising", "vae_decode"]


def test_nan_and_black_outputs_raise_output_error_naming_the_dtype(mini):
    c = _config("sd3-medium", steps=2)
    loaded = load_pipeline(c, mini)
    conv = loaded.pipe.vae.decoder.conv_out
    with torch.no_grad():
        conv.weight.fill_(float("nan"))
    with pytest.raises(OutputError, match="float32: the decoded image contains NaN"):
        generate(loaded, c)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.fill_(-10.0)
    with pytest.raises(OutputError, match="all black"):
        generate(loaded, c)


def test_offload_on_cpu_and_a_mismatched_config_are_refused(mini):
    with pytest.raises(DeviceError, match="needs an accelerator"):
        load_pipeline(_config("sd3-medium", offload="model"), mini, device="cpu")
    loaded = load_pipeline(_config("sd3-medium"), mini)
    with pytest.raises(ConfigError, match="drop_t5"):
        generate(loaded, _config("sd3-medium", drop_t5=True))
