"""load_pipeline/generate on the miniature SD3 (T5, drop-T5) and FLUX (GGUF) models: real diffusers classes."""

import gc
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
    loaded.load_denoiser()
    assert any(type(p).__name__ == "GGUFParameter" for p in loaded.pipe.transformer.parameters())


def test_staged_and_unstaged_and_plain_diffusers_give_the_same_image(mini):
    c = _config("sd3-medium", steps=4)
    images = [np.asarray(generate(load_pipeline(c.with_(staged=s), mini)).image) for s in (True, False)]
    loaded = load_pipeline(c.with_(staged=False), mini)
    plain = loaded.pipe(c.prompt, height=64, width=64, num_inference_steps=4, guidance_scale=c.guidance,
                        generator=torch.Generator("cpu").manual_seed(c.seed)).images[0]
    assert (images[0] == images[1]).all() and (images[0] == np.asarray(plain)).all()


def _spy_on_loading(monkeypatch, family):
    """Wrap component loading: keep a weak reference to every model loaded, and note, at each load and at the
    first denoising forward, which models are still alive (after a garbage collection)."""
    import lib.pipelines.loading as loading

    refs, events = {}, []
    real = loading._component

    def alive():
        gc.collect()
        return sorted(n for n, r in refs.items() if r() is not None)

    def spy(loaded, name):
        events.append(("load " + name, alive()))
        module = real(loaded, name)
        refs[name] = weakref.ref(module)
        if name == "transformer":
            module.register_forward_pre_hook(lambda *_: events.append(("forward", alive())) if not any(
                e[0] == "forward" for e in events) else None)
        return module

    monkeypatch.setattr(loading, "_component", spy)
    return events


@pytest.mark.parametrize("model", ["sd3-medium", "flux-schnell"])
def test_staged_never_holds_the_transformer_and_a_text_encoder_at_once(mini, model, monkeypatch):
    from lib.pipelines.loading import TEXT_ENCODERS

    monkeypatch.setenv("DME_EMBEDDING_CACHE", "off")  # encode for real both times
    events = _spy_on_loading(monkeypatch, model)
    c = _config(model)
    loaded = load_pipeline(c, mini)
    assert loaded.pipe.transformer is None and loaded.pipe.text_encoder is None  # nothing heavy up front
    first = generate(loaded, c)
    again = generate(loaded, c)  # reloads the encoders, then the transformer: the same rule holds
    encoders = set(TEXT_ENCODERS[c.spec.family])
    for what, live in events:
        if what in ("load transformer", "forward"):
            assert not encoders & set(live), f"{what} while {live} resident"
        if what.startswith("load text_encoder"):
            assert "transformer" not in live, f"{what} while the transformer was resident"
            assert "vae" not in live, f"{what} while the previous batch's VAE was resident"
    assert [e[0] for e in events].count("forward") == 1 and ("forward", ["transformer"]) in events
    assert ("load vae", []) in events  # the VAE loads after the transformer is freed, alone
    assert (np.asarray(first.image) == np.asarray(again.image)).all()
    stages = {s.name: s for s in first.stages}
    assert stages["text_encoding"].weights_bytes == first.loads[0].weights_bytes  # encoders alone
    assert stages["vae_decode"].weights_bytes < stages["denoising"].weights_bytes  # transformer freed first
    assert [x.name for x in first.loads] == ["load_text_encoders", "load_denoiser", "load_decoder"]
    assert [x.name for x in again.loads] == ["load_text_encoders", "load_denoiser", "load_decoder"]


def test_a_batch_interrupted_before_any_image_leaves_its_loads_out_of_the_next(mini, monkeypatch):
    import lib.pipelines.stages as stages

    monkeypatch.setenv("DME_EMBEDDING_CACHE", "off")
    c = _config("sd3-medium", drop_t5=True)
    loaded = load_pipeline(c, mini)
    real = stages._denoise

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(stages, "_denoise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate(loaded, c)
    assert loaded.pipe.transformer is None and loaded.pipe.vae is None  # nothing left resident
    monkeypatch.setattr(stages, "_denoise", real)
    result = generate(loaded, c)
    assert [x.name for x in result.loads] == ["load_text_encoders", "load_denoiser", "load_decoder"]


def test_a_second_run_of_the_same_prompts_loads_no_text_encoder(mini, monkeypatch, tmp_path):
    monkeypatch.setenv("DME_EMBEDDING_CACHE", str(tmp_path / "cache"))
    events = _spy_on_loading(monkeypatch, "flux-schnell")
    c = _config("flux-schnell")
    prompts = [c, c.with_(prompt="a lighthouse at dusk")]
    first = generate_many(load_pipeline(c, mini), prompts)
    loaded_first = [e[0] for e in events]
    events.clear()
    second = generate_many(load_pipeline(c, mini), prompts)
    assert "load text_encoder_2" in loaded_first  # T5
    assert [e[0] for e in events] == ["load transformer", "forward", "load vae"]  # no text encoder at all
    assert all(r.stages[0].cached for r in second) and not any(r.stages[0].cached for r in first)
    for a, b in zip(first, second):
        assert (np.asarray(a.image) == np.asarray(b.image)).all()
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 2
    third = generate_many(load_pipeline(c, mini), [c.with_(max_sequence_length=64)])  # another key: encoded
    assert not third[0].stages[0].cached


def test_the_embedding_cache_can_be_turned_off_and_cleared(mini, monkeypatch, tmp_path):
    from lib.pipelines import embeddings

    monkeypatch.setenv("DME_EMBEDDING_CACHE", "off")
    c = _config("sd3-medium", drop_t5=True)
    generate(load_pipeline(c, mini), c)
    assert embeddings.cache_dir() is None and embeddings.usage() == (None, 0, 0)
    monkeypatch.setenv("DME_EMBEDDING_CACHE", str(tmp_path))
    generate(load_pipeline(c, mini), c)
    folder, files, size = embeddings.usage()
    assert folder == tmp_path and files == 1 and size > 0
    next(tmp_path.glob("*.safetensors")).write_bytes(b"truncated")  # a broken entry is re-encoded, not trusted
    assert not generate(load_pipeline(c, mini), c).stages[0].cached
    assert embeddings.clear() == 1 and embeddings.usage()[1] == 0


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
    c = _config("sd3-medium", steps=2, staged=False)  # unstaged: the VAE stays loaded (staged reloads it)
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
    with pytest.raises(DeviceError, match="this run is on the CPU alone"):
        load_pipeline(_config("sd3-medium", offload="model"), mini, device="cpu")
    loaded = load_pipeline(_config("sd3-medium"), mini)
    with pytest.raises(ConfigError, match="drop_t5"):
        generate(loaded, _config("sd3-medium", drop_t5=True))


def test_a_close_memory_plan_warns_visibly_and_offload_is_not_planned(mini, monkeypatch):
    import lib.plan
    from lib.pipelines.loading import MemoryWarning

    calls = []
    monkeypatch.setattr(lib.plan, "check_memory", lambda *a, **k: calls.append(k) or "needs about 15 GB: may swap")
    with pytest.warns(MemoryWarning, match="may swap"):  # a UserWarning: shown by default, unlike ResourceWarning
        load_pipeline(_config("flux-schnell"), mini)
    assert calls == [{"text_cached": False}]  # the cache is not assumed unless the caller uses it


def test_an_interrupted_staged_batch_delivers_the_images_already_denoised(mini, monkeypatch):
    import lib.pipelines.stages as stages

    monkeypatch.setenv("DME_EMBEDDING_CACHE", "off")
    real, calls = stages._denoise, []

    def denoise_then_interrupt(loaded, c, e):
        calls.append(c.prompt)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(loaded, c, e)

    monkeypatch.setattr(stages, "_denoise", denoise_then_interrupt)
    c = _config("flux-schnell")
    loaded, delivered = load_pipeline(c, mini), []
    with pytest.raises(KeyboardInterrupt):
        generate_many(loaded, [c, c.with_(prompt="a lighthouse")], on_result=lambda i, r: delivered.append(i))
    assert delivered == [0] and loaded.pipe.transformer is None  # image 0 kept; transformer freed all the same
