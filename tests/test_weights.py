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
