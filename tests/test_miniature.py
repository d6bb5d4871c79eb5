"""The miniature models: local tokenizers, hub-like snapshots, a build-once cache, deterministic images."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

PROMPT = "A Photograph of an Astronaut riding a Horse, 42 (\"NEON\")!"


def test_clip_tokenizer_round_trips_capitals_without_unknown_tokens(miniatures):
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(miniatures.sd3 / "tokenizer")
    ids = tok(PROMPT).input_ids
    assert tok.model_max_length == 77
    assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
    assert tok.eos_token_id not in ids[1:-1]  # CLIP's unk is <|endoftext|>: none inside the text
    assert tok.decode(ids, skip_special_tokens=True).replace(" ", "") == PROMPT.lower().replace(" ", "")


def test_t5_tokenizer_has_t5_ids_and_lowercases_capitals_instead_of_unk(miniatures):
    from transformers import T5Tokenizer

    tok = T5Tokenizer.from_pretrained(miniatures.sd3 / "tokenizer_3")
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    ids = tok(PROMPT).input_ids
    assert tok.unk_token_id not in ids
    assert ids[-1] == tok.eos_token_id
    assert tok.decode(ids, skip_special_tokens=True) == PROMPT.lower()


def test_snapshots_look_like_hub_snapshots(miniatures):
    sd3 = json.loads((miniatures.sd3 / "model_index.json").read_text())
    flux = json.loads((miniatures.flux / "model_index.json").read_text())
    assert sd3["_class_name"] == "StableDiffusion3Pipeline" and sd3["text_encoder_3"][1] == "T5EncoderModel"
    assert flux["_class_name"] == "FluxPipeline"
    config = json.loads((miniatures.flux / "transformer" / "config.json").read_text())
    assert config["guidance_embeds"] is False  # schnell is guidance-distilled: no guidance embedder
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    assert inner % 256 == 0  # every big matrix can hold K-quant super-blocks
    for sub in ("vae",):
        assert json.loads((miniatures.flux / sub / "config.json").read_text())["latent_channels"] == 16
    assert set(miniatures.gguf) >= {"F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q4_0"}


def test_ensure_miniatures_builds_once_and_leaves_no_temp_folders(miniatures):
    from lib.miniature import ensure_miniatures

    root = miniatures.sd3.parent
    stamp = os.path.getmtime(miniatures.gguf["Q4_K"])
    again = ensure_miniatures(root)
    assert again == miniatures
    assert os.path.getmtime(miniatures.gguf["Q4_K"]) == stamp
    assert not [p.name for p in root.parent.iterdir() if p.name.startswith(f".{root.name}-")]  # build temp dirs


def test_ensure_miniatures_replaces_an_incomplete_build(tmp_path, miniatures):
    import shutil

    from lib.miniature import ensure_miniatures

    root = tmp_path / "cache"
    shutil.copytree(miniatures.sd3.parent, root)
    (root / "COMPLETE").unlink()  # as if a build had died before its last step
    (root / "gguf" / "flux-miniature-Q4_K.gguf").unlink()
    paths = ensure_miniatures(root)
    assert paths.gguf["Q4_K"].is_file() and (root / "COMPLETE").is_file()


@pytest.fixture(scope="module")
def sd3_pipes(miniatures):
    from diffusers import StableDiffusion3Pipeline

    full = StableDiffusion3Pipeline.from_pretrained(miniatures.sd3)
    no_t5 = StableDiffusion3Pipeline.from_pretrained(miniatures.sd3, text_encoder_3=None, tokenizer_3=None)
    return full, no_t5


def test_sd3_with_t5_generates_64x64_deterministically_per_seed(sd3_pipes, generate_np):
    full, _ = sd3_pipes
    a, b, c = (generate_np(full, seed=s, guidance_scale=7.0) for s in (0, 0, 1))
    assert a.shape == (64, 64, 3) and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sd3_without_t5_generates_and_differs_from_with_t5(sd3_pipes, generate_np):
    full, no_t5 = sd3_pipes
    assert no_t5.text_encoder_3 is None
    a, b = generate_np(no_t5, seed=0, guidance_scale=7.0), generate_np(no_t5, seed=0, guidance_scale=7.0)
    assert a.shape == (64, 64, 3) and np.array_equal(a, b)
    assert not np.array_equal(a, generate_np(full, seed=0, guidance_scale=7.0))


def test_flux_generates_64x64_deterministically_per_seed(miniatures, generate_np):
    from diffusers import FluxPipeline

    pipe = FluxPipeline.from_pretrained(miniatures.flux)
    a, b, c = (generate_np(pipe, seed=s, guidance_scale=0.0, max_sequence_length=64) for s in (0, 0, 1))
    assert a.shape == (64, 64, 3) and np.isfinite(a).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
