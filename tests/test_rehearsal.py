"""The full-size rehearsal's snapshots: the published repositories' layout in a Hugging Face cache, checked at
the miniature's widths (`scale="tiny"`, written in seconds) and, where no file must be written, at full size.

Everything is written under pytest's tmp_path; nothing touches the repository or the user's caches.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from lib.rehearsal import random_tensors as rt
from lib.rehearsal.hfcache import COMPLETE, MARKER, RepoWriter, git_blob_sha1
from lib.rehearsal.snapshots import CLIP_VOCAB, T5_EXTRA_IDS, T5_PIECES, parts, write_all
from lib.registry import PRESETS

SD3, FLUX = PRESETS["sd3-medium"], PRESETS["flux-schnell"]
GGUF_FILE = FLUX.published_gguf["Q4_K_S"].filename


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both snapshots and the GGUF file at tiny scale in a fresh hub cache (tokenizers at full size)."""
    return write_all(tmp_path_factory.mktemp("hub"), "tiny", log=lambda m: None)


def test_huggingface_hub_finds_every_snapshot_offline(built):
    from huggingface_hub import hf_hub_download, snapshot_download

    assert Path(snapshot_download(SD3.repo_id, local_files_only=True, cache_dir=built.cache)) == built.sd3
    assert Path(snapshot_download(FLUX.repo_id, local_files_only=True, cache_dir=built.cache)) == built.flux
    found = hf_hub_download(FLUX.gguf_repo, GGUF_FILE, local_files_only=True, cache_dir=built.cache)
    assert Path(found) == built.gguf


def test_the_library_resolves_the_cache_as_random_full_size_weights(built, monkeypatch):
    from lib.config import DiffusionConfig
    from lib.weights import resolve_weights

    monkeypatch.setenv("HF_HUB_CACHE", str(built.cache))
    flux = resolve_weights(DiffusionConfig("flux-schnell", "a cat"))
    assert (flux.snapshot, flux.gguf, flux.source) == (built.flux, built.gguf, "random-weights-full-size")
    assert resolve_weights(DiffusionConfig("sd3-medium", "a cat")).source == "random-weights-full-size"


def test_cache_layout_is_blobs_named_by_etag_behind_relative_symlinks(built):
    repo = built.flux.parents[1]
    assert (repo / "refs" / "main").read_text() == built.flux.name
    index = built.flux / "model_index.json"
    weights = built.flux / "vae" / "diffusion_pytorch_model.safetensors"
    for link in (index, weights):
        assert link.is_symlink() and not os.path.isabs(os.readlink(link))
        assert Path(os.path.realpath(link)).parent == repo / "blobs"
    assert Path(os.path.realpath(index)).name == git_blob_sha1(index.read_bytes())  # plain git file
    assert Path(os.path.realpath(weights)).name == hashlib.sha256(weights.read_bytes()).hexdigest()  # LFS file


@pytest.mark.parametrize("family, pipeline, classes", [
    ("sd3", "StableDiffusion3Pipeline", {
        "transformer": "SD3Transformer2DModel", "vae": "AutoencoderKL",
        "text_encoder": "CLIPTextModelWithProjection", "text_encoder_2": "CLIPTextModelWithProjection",
        "text_encoder_3": "T5EncoderModel", "tokenizer": "CLIPTokenizer", "tokenizer_2": "CLIPTokenizer",
        "tokenizer_3": "T5TokenizerFast", "scheduler": "FlowMatchEulerDiscreteScheduler"}),
    ("flux", "FluxPipeline", {
        "transformer": "FluxTransformer2DModel", "vae": "AutoencoderKL", "text_encoder": "CLIPTextModel",
        "text_encoder_2": "T5EncoderModel", "tokenizer": "CLIPTokenizer", "tokenizer_2": "T5TokenizerFast",
        "scheduler": "FlowMatchEulerDiscreteScheduler"}),
])
def test_model_index_names_the_published_components_and_classes(built, family, pipeline, classes):
    snapshot = getattr(built, family)
    index = json.loads((snapshot / "model_index.json").read_text())
    assert index["_class_name"] == pipeline
    assert {k: v[1] for k, v in index.items() if not k.startswith("_")} == classes
    for name in classes:
        kind = "scheduler_config.json" if name == "scheduler" else "config.json" if "token" not in name else None
        if kind:
            assert (snapshot / name / kind).is_file(), f"{name}/{kind}"


def test_scheduler_configs_carry_the_registry_shifts(built):
    assert json.loads((built.sd3 / "scheduler/scheduler_config.json").read_text())["shift"] == SD3.scheduler_shift
    flux = json.loads((built.flux / "scheduler/scheduler_config.json").read_text())
    assert (flux["shift"], flux["use_dynamic_shifting"]) == (FLUX.scheduler_shift, FLUX.dynamic_shifting)


def test_tokenizers_have_the_real_vocabulary_sizes(built):
    from transformers import CLIPTokenizer, T5TokenizerFast

    for snapshot, folder in ((built.sd3, "tokenizer"), (built.sd3, "tokenizer_2"), (built.flux, "tokenizer")):
        clip = CLIPTokenizer.from_pretrained(snapshot / folder)
        ids = (len(clip), clip.bos_token_id, clip.eos_token_id, clip.model_max_length)
        assert ids == (CLIP_VOCAB, 49406, 49407, 77)
    assert CLIPTokenizer.from_pretrained(built.sd3 / "tokenizer_2").pad_token == "!"  # OpenCLIP pads with id 0
    for snapshot, folder in ((built.sd3, "tokenizer_3"), (built.flux, "tokenizer_2")):
        t5 = T5TokenizerFast.from_pretrained(snapshot / folder)
        assert len(t5) == T5_PIECES + T5_EXTRA_IDS == 32100
        assert (t5.pad_token_id, t5.eos_token_id, t5.unk_token_id) == (0, 1, 2)
        assert max(t5("A green teapot on the left of three books").input_ids) < 32128  # T5-XXL's embedding rows
    t5_config = json.loads((built.flux / "text_encoder_2/config.json").read_text())
    assert t5_config["vocab_size"] == 32128 and t5_config["tie_word_embeddings"] is False


def test_full_size_tokenizers_keep_the_miniature_vocabulary_as_their_first_ids(tmp_path):
    from lib.miniature.tokenizers import write_clip_tokenizer

    small = json.loads((write_clip_tokenizer(tmp_path / "small") / "vocab.json").read_text())
    full = json.loads((write_clip_tokenizer(tmp_path / "full", vocab_size=CLIP_VOCAB) / "vocab.json").read_text())
    learned = {t: i for t, i in small.items() if not t.startswith("<|")}
    assert all(full[t] == i for t, i in learned.items())
    assert len(full) == CLIP_VOCAB and full["<|endoftext|>"] == CLIP_VOCAB - 1


def test_weights_load_into_the_real_classes_with_every_tensor_from_the_file(built):
    """Tensor names are the checkpoints' own: nothing is missing, so nothing is left randomly initialised."""
    import diffusers
    import transformers

    for family in ("sd3", "flux"):
        snapshot = getattr(built, family)
        for part in parts(family, "tiny"):
            if not part.weights:
                continue
            cls = getattr(transformers if part.library == "transformers" else diffusers, part.cls)
            _, info = cls.from_pretrained(snapshot, subfolder=part.subfolder, output_loading_info=True)
            assert not info["missing_keys"] and not info["unexpected_keys"], (family, part.subfolder, info)


def test_weights_are_bf16_finite_and_weight_like(built):
    from safetensors import safe_open

    with safe_open(built.sd3 / "transformer/diffusion_pytorch_model.safetensors", "pt") as f:
        for name in list(f.keys())[:20]:
            t = f.get_tensor(name)
            assert str(t.dtype) == "torch.bfloat16" and bool(t.float().isfinite().all())
            if name.endswith("norm.weight"):
                assert bool((t == 1).all())
        w = f.get_tensor("transformer_blocks.0.attn.to_q.weight").float()
        assert abs(w.mean().item()) < 0.005 and 0.015 < w.std().item() < 0.04


def test_t5_weights_are_one_file_hard_linked_into_both_repos(built):
    (sd3_shard,) = (built.sd3 / "text_encoder_3").glob("*.safetensors")
    (flux_shard,) = (built.flux / "text_encoder_2").glob("*.safetensors")
    assert os.stat(sd3_shard).st_ino == os.stat(flux_shard).st_ino
    assert os.path.realpath(sd3_shard) != os.path.realpath(flux_shard)  # each repo has its own blob name


def test_marker_is_at_the_root_of_every_snapshot_and_nowhere_else(built):
    snapshots = {built.sd3, built.flux, built.gguf.parent}
    assert {p.parent for p in built.cache.rglob(MARKER)} == snapshots


def test_gguf_tensor_types_follow_the_published_rule_and_size(built):
    from lib.architectures.quant_size import gguf_file_bytes
    from lib.gguf.rule import tensor_type
    from lib.gguf.writer import read_gguf_types
    from lib.rehearsal.gguf_random import named_shapes

    shapes = named_shapes("tiny")
    types = read_gguf_types(built.gguf)
    assert types == {k: tensor_type(k, s, "Q4_K_S") for k, s in shapes.items()}
    assert {"Q4_K", "F16", "F32"} == set(types.values())
    assert built.gguf.stat().st_size == gguf_file_bytes(shapes, "Q4_K_S")  # the header the size rule models


def test_gguf_blocks_decode_to_finite_zero_mean_values_of_weight_scale(built):
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(built.gguf))
    quantized = [t for t in reader.tensors if t.tensor_type.name == "Q4_K"]
    assert quantized
    for t in quantized:
        values = gguf.quants.dequantize(t.data, t.tensor_type)
        assert np.isfinite(values).all()
        assert abs(values.mean()) < 2e-3 and 0.015 < values.std() < 0.025, t.name
    norm = next(t for t in reader.tensors if t.name.endswith("query_norm.scale"))
    assert (gguf.quants.dequantize(norm.data, norm.tensor_type) == 1).all()


def test_the_published_gguf_layout_is_what_the_random_file_holds():
    from lib.architectures.params import flux_schnell_named_shapes
    from lib.architectures.quant_size import gguf_file_bytes
    from lib.rehearsal.gguf_random import named_shapes

    assert named_shapes("full") == flux_schnell_named_shapes("bfl")
    assert gguf_file_bytes(named_shapes("full"), "Q4_K_S") == 6_783_943_712  # city96's file, to the byte


def test_full_size_t5_shards_are_the_published_files_to_the_byte():
    """Without writing 9.5 GB: the header and data sizes of the two shards we would write equal the published
    text_encoder_2 shard sizes (same tensor names, shapes, bf16, 5 GB sharding)."""
    from lib.rehearsal.snapshots import checkpoint_tensors, meta_module

    part = next(p for p in parts("flux") if p.is_t5)
    shards = rt.shards(checkpoint_tensors(part, meta_module(part)), rt.TRANSFORMERS_SHARD)
    sizes = [len(rt.header(s, "BF16")) + sum(t.numel for t in s) * 2 for s in shards]
    assert sizes == [4_994_582_224, 4_530_066_360]
    published = {d.subfolder: d.bytes for d in FLUX.downloads}
    assert sum(sizes) == published["text_encoder_2"]


def test_a_complete_build_is_reused_and_an_interrupted_one_finished_without_rewriting(built):
    shard = built.sd3 / "transformer" / "diffusion_pytorch_model.safetensors"
    before = os.stat(os.path.realpath(shard)).st_mtime_ns
    (built.sd3.parents[1] / COMPLETE).unlink()  # as if the build had stopped before its last file
    again = write_all(built.cache, "tiny", log=lambda m: None)
    assert again.sd3 == built.sd3 and (built.sd3.parents[1] / COMPLETE).is_file()
    assert os.stat(os.path.realpath(shard)).st_mtime_ns == before


def test_the_writer_refuses_a_repo_folder_it_did_not_write(tmp_path):
    from lib.errors import WeightsError

    real = tmp_path / "models--black-forest-labs--FLUX.1-schnell" / "blobs"
    real.mkdir(parents=True)
    (real / "0123abcd").write_bytes(b"a real download")
    with pytest.raises(WeightsError, match="not written by lib.rehearsal"):
        RepoWriter(tmp_path, FLUX.repo_id, "0" * 40).start()
    assert (real / "0123abcd").is_file()


def test_rehearse_rejects_an_unknown_configuration_before_writing_anything(tmp_path, capsys):
    from lib.rehearsal import main

    assert main(["--only", "flux-fast", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]) == 2
    assert "unknown configuration(s) rehearsal-flux-fast" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_every_configuration_is_a_valid_256px_one_step_bf16_config():
    from lib.rehearsal.configurations import CONFIGURATIONS, diffusion_config

    names = [c.name for c in CONFIGURATIONS]
    assert len(set(names)) == len(names) == 7
    for conf in CONFIGURATIONS:
        c = diffusion_config(conf)
        assert (c.height, c.width, c.steps, c.dtype, c.seed, c.staged) == (256, 256, 1, "bfloat16", 42, conf.staged)
        if conf.embeddings == "warm":  # each warm run has a staged twin that fills its cache folder
            assert any(o.embeddings == "fill" and o.cache_folder == conf.cache_folder and o.model == conf.model
                       for o in CONFIGURATIONS)
