"""Missing, offline, gated or incomplete weights each end in one WeightsError with the command that fixes it."""

import json

import pytest

from lib.config import DiffusionConfig
from lib.errors import WeightsError
from lib.weights import from_local, resolve_weights


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path / "hf" / "hub"


def test_missing_flux_weights_name_both_download_commands(empty_hub):
    with pytest.raises(WeightsError) as err:
        resolve_weights(DiffusionConfig("flux-schnell", "a cat"))
    msg = str(err.value)
    assert "not in the Hugging Face cache" in msg
    assert "hf download black-forest-labs/FLUX.1-schnell --include 'model_index.json'" in msg
    assert "hf download city96/FLUX.1-schnell-gguf flux1-schnell-Q4_K_S.gguf" in msg


def test_gated_flux_schnell_says_accept_the_licence_too(empty_hub):
    with pytest.raises(WeightsError, match="accept the licence at https://huggingface.co/black-forest-labs/FLUX.1-schnell"):
        resolve_weights(DiffusionConfig("flux-schnell", "a cat"))


def test_snapshot_folders_are_the_architecture_components_without_a_dropped_t5():
    from lib.config import model_spec
    from lib.weights import snapshot_folders

    sd3 = model_spec("sd3-medium")
    assert snapshot_folders(sd3) == ("transformer", "text_encoder", "text_encoder_2", "text_encoder_3", "vae")
    assert "text_encoder_3" not in snapshot_folders(sd3, drop_t5=True)
    assert snapshot_folders(model_spec("flux-schnell")) == ("transformer", "text_encoder", "text_encoder_2", "vae")


def test_offline_shell_is_named_in_the_message(empty_hub):
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set"):
        resolve_weights(DiffusionConfig("flux-schnell", "a cat"))


def test_gated_sd3_says_accept_the_licence_and_log_in(empty_hub):
    with pytest.raises(WeightsError) as err:
        resolve_weights(DiffusionConfig("sd3-medium", "a cat"))
    msg = str(err.value)
    assert "https://huggingface.co/stabilityai/stable-diffusion-3-medium-diffusers" in msg
    assert "hf auth login" in msg and "hf download stabilityai/stable-diffusion-3-medium-diffusers" in msg


def test_incomplete_cached_snapshot_lists_missing_components(empty_hub):
    repo = empty_hub / "models--stabilityai--stable-diffusion-3-medium-diffusers"
    snap = repo / "snapshots" / ("a" * 40)
    (snap / "transformer").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (snap / "model_index.json").write_text(json.dumps({}))
    (snap / "transformer" / "config.json").write_text("{}")
    with pytest.raises(WeightsError, match="incomplete .missing text_encoder, text_encoder_2, text_encoder_3, vae"):
        resolve_weights(DiffusionConfig("sd3-medium", "a cat"))
    with pytest.raises(WeightsError, match="missing text_encoder, text_encoder_2, vae\\)"):
        resolve_weights(DiffusionConfig("sd3-medium", "a cat", drop_t5=True))


def test_local_paths_are_checked(tmp_path):
    with pytest.raises(WeightsError, match="is not a folder"):
        from_local(DiffusionConfig("sd3-medium", "a cat"), tmp_path / "nope")
    with pytest.raises(WeightsError, match="lacks model_index.json"):
        from_local(DiffusionConfig("sd3-medium", "a cat"), tmp_path)


# What the download costs: stated in the message, from the registry's published sizes or parameter counts.

def _message(config) -> str:
    with pytest.raises(WeightsError) as err:
        resolve_weights(config)
    return str(err.value)


def test_missing_flux_says_licence_login_and_the_size_of_what_the_commands_fetch(empty_hub):
    msg = _message(DiffusionConfig("flux-schnell", "a cat"))  # default: GGUF Q4_K_S
    assert "accept the licence at https://huggingface.co/black-forest-labs/FLUX.1-schnell" in msg
    assert "log in on this machine with: hf auth login" in msg
    # text encoders + VAE + configs from the BFL repo (0.25 + 9.52 + 0.17 GB), plus the 6.78 GB GGUF file
    assert "This downloads about 16.7 GB" in msg
    assert "text_encoder_2 9.52" in msg and "flux1-schnell-Q4_K_S.gguf 6.78 GB" in msg
    assert "--include 'transformer/config.json'" in msg and "transformer/*" not in msg


def test_flux_without_gguf_fetches_the_transformer_folder_not_the_whole_repo(empty_hub):
    msg = _message(DiffusionConfig("flux-schnell", "a cat", quantization="none"))
    assert "--include 'transformer/*'" in msg and "city96" not in msg
    assert "This downloads about 33.7 GB" in msg  # 23.8 (transformer) + 9.52 + 0.25 + 0.17


def test_missing_sd3_download_size_is_an_fp16_estimate_from_parameter_counts(empty_hub):
    from lib.mac_memory import parameters
    from lib.registry import model_spec
    from lib.weights import download_size

    msg = _message(DiffusionConfig("sd3-medium", "a cat"))
    assert "accept the licence at https://huggingface.co/stabilityai/stable-diffusion-3-medium-diffusers" in msg
    assert "hf auth login" in msg and "This downloads about 15.4 GB" in msg
    assert "~ parameter count x 2 bytes (fp16)" in msg
    p = parameters()
    expected = 2 * (p["sd3_transformer"] + p["clip_l"] + p["clip_g"] + p["t5_xxl"] + p["vae_16ch"])
    assert download_size(model_spec("sd3-medium"))[0] == expected


def test_registry_download_sizes_agree_with_the_architectures():
    from lib.architectures.params import model_params
    from lib.architectures.specs import MODELS
    from lib.registry import model_spec

    spec = model_spec("flux-schnell")
    counts = model_params(spec.architecture)
    published = {d.subfolder: d.bytes for d in spec.downloads}
    assert published["text_encoder_2"] == 4_994_582_224 + 4_530_066_360  # the two bf16 T5 shards
    for c in MODELS[spec.architecture].components:
        bf16 = counts[c.name] * 2
        assert abs(published[c.subfolder] - bf16) <= 0.02 * bf16, c.subfolder  # sizes published to 0.01-0.1 GB


def test_a_probe_that_catches_the_error_does_not_pay_for_the_size(empty_hub, monkeypatch):
    import lib.weights as weights

    calls = []
    real = weights.download_size
    monkeypatch.setattr(weights, "download_size", lambda *a: calls.append(a) or real(*a))
    with pytest.raises(WeightsError) as err:
        resolve_weights(DiffusionConfig("flux-schnell", "a cat"))
    assert calls == []  # nobody showed the message yet
    assert "This downloads about" in str(err.value) and len(calls) == 1
    assert str(err.value) == str(err.value) and len(calls) == 1  # composed once
