"""One home per model fact: every module that needs a fact of SD3 Medium or FLUX.1-schnell reads lib.registry."""

from __future__ import annotations

import json

import pytest

from lib import config, mac_memory, registry
from lib.architectures import specs
from lib.chapters import theory
from lib.errors import ConfigError
from lib.gguf import rule
from lib.gguf.quants import QTYPES
from lib.gguf.writer import llama_file_type
from lib.miniature import GGUF_QTYPES
from lib.miniature import build as miniature_build

SPECS = list(registry.PRESETS.values())


def test_config_reexports_the_registry_objects():
    assert config.ModelSpec is registry.ModelSpec
    assert config.PRESETS is registry.PRESETS
    assert config.model_spec is registry.model_spec
    assert config.DiffusionConfig("flux-schnell", "a cat").spec is registry.PRESETS["flux-schnell"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_architecture_table_takes_repo_ids_steps_and_tokens_from_the_registry(spec):
    arch = specs.MODELS[spec.architecture]
    assert {c.repo for c in arch.components} == {spec.repo_id}
    assert arch.steps == spec.steps
    assert arch.tokens["T5-XXL"] == spec.max_sequence_length
    assert (specs.SD3_REPO, specs.SCHNELL_REPO) == (registry.PRESETS["sd3-medium"].repo_id,
                                                    registry.PRESETS["flux-schnell"].repo_id)


def test_miniature_schedulers_take_the_registry_shifts(miniatures):
    sd3, flux = registry.PRESETS["sd3-medium"], registry.PRESETS["flux-schnell"]
    saved = {m: json.loads((getattr(miniatures, m) / "scheduler" / "scheduler_config.json").read_text())
             for m in ("sd3", "flux")}
    assert saved["sd3"]["shift"] == sd3.scheduler_shift == miniature_build.SD3_SCHEDULER["shift"]
    assert saved["flux"]["shift"] == flux.scheduler_shift
    assert saved["flux"]["use_dynamic_shifting"] is flux.dynamic_shifting
    assert theory.SD3_MEDIUM_SHIFT == sd3.scheduler_shift


def test_miniature_vaes_and_flux_transformer_share_the_real_configs_constants(miniatures):
    flux_vae = json.loads((miniatures.flux / "vae" / "config.json").read_text())
    sd3_vae = json.loads((miniatures.sd3 / "vae" / "config.json").read_text())
    assert flux_vae["scaling_factor"] == specs.VAE_16CH_FLUX["scaling_factor"]
    assert sd3_vae["shift_factor"] == specs.VAE_16CH_SD3["shift_factor"]
    transformer = json.loads((miniatures.flux / "transformer" / "config.json").read_text())
    assert transformer["axes_dims_rope"] == specs.FLUX_SCHNELL_TRANSFORMER["axes_dims_rope"]


def test_file_type_map_sends_k_small_mixes_to_their_block_type_and_block_types_to_themselves():
    assert registry.block_type("Q4_K_S") == "Q4_K"
    assert registry.block_type("Q5_K_S") == "Q5_K"
    assert registry.block_type("Q3_K_S") == "Q3_K"
    for block in ("F16", "Q8_0", "Q6_K", "Q4_0", "Q4_K"):
        assert registry.block_type(block) == block
    assert registry.file_type_of_block("Q4_K") == "Q4_K_S" and registry.file_type_of_block("Q8_0") == "Q8_0"
    with pytest.raises(ConfigError, match="unknown GGUF file type"):
        registry.block_type("Q7_X")
    with pytest.raises(ConfigError, match="unknown GGML block type"):
        registry.file_type_of_block("Q4_K_S")  # a file type, not a block type


def test_the_size_rule_reads_the_registry_map():
    assert rule.GGUF_FILE_TYPES is registry.GGUF_FILE_TYPES
    shape = (3072, 3072)
    for file_type, block in registry.GGUF_FILE_TYPES.items():
        assert rule.tensor_type("double_blocks.0.img_mlp.2.weight", shape, file_type) == block


@pytest.mark.parametrize("block", sorted(set(registry.GGUF_FILE_TYPES.values())))
def test_writer_finds_gguf_pys_file_type_for_every_block_type_of_the_registry(block):
    declared = llama_file_type(block)  # looked up by name: a KeyError here would mean a name gguf-py lacks
    assert declared.name.endswith(registry.file_type_of_block(block))
    assert set(QTYPES) <= set(registry.GGUF_FILE_TYPES.values())  # every type the writer encodes is in the map


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_quantization_preset_is_a_published_file_the_map_and_the_miniature_cover(spec):
    for q, filename in spec.quantizations.items():
        if q == "none":
            continue
        assert spec.published_gguf[q].filename == filename
        block = registry.block_type(q)
        assert block in QTYPES, f"the writer cannot encode {q}'s {block}"
        assert block in GGUF_QTYPES, f"the miniature has no {block} file for {q}"
    assert spec.default_quantization in spec.quantizations


def test_published_files_are_listed_with_sizes_only_where_known():
    flux = registry.PRESETS["flux-schnell"]
    published = flux.published_gguf
    # city96 publishes eleven files; Q6_K is the one whose size is not recorded (chapter 2 computes it)
    assert set(published) == {"F16", "Q8_0", "Q6_K", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_S", "Q4_1", "Q4_0",
                              "Q3_K_S", "Q2_K"}
    assert [t for t, f in published.items() if f.gb is None] == ["Q6_K"]
    assert published["Q4_K_S"].filename == "flux1-schnell-Q4_K_S.gguf"
    assert mac_memory.FLUX_GGUF_PUBLISHED_GB == registry.published_gguf_gb("flux-schnell")
    assert None not in mac_memory.FLUX_GGUF_PUBLISHED_GB.values()
    assert all(t in registry.GGUF_FILE_TYPES for t in published)


def test_hardware_counts_the_architectures_the_registry_names():
    from lib.architectures import params

    sd3 = registry.PRESETS["sd3-medium"].architecture
    assert mac_memory.parameters()["sd3_transformer"] == params.model_params(sd3)["MMDiT"]
