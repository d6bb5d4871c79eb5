"""The per-tensor GGUF size rule: exact on real files written by gguf-py, close to the published FLUX files."""

import numpy as np
import pytest
import torch

import gguf
from lib import mac_memory
from lib.architectures import params, quant_size
from lib.gguf.keymap import diffusers_to_bfl

GB = 1e9


@pytest.fixture(scope="module")
def flux_shapes():
    return params.flux_schnell_named_shapes("bfl")


@pytest.mark.parametrize("qtype", sorted(mac_memory.FLUX_GGUF_PUBLISHED_GB))
def test_rule_reproduces_every_published_flux_schnell_size_within_half_a_percent(flux_shapes, qtype):
    published = mac_memory.FLUX_GGUF_PUBLISHED_GB[qtype]
    computed = quant_size.gguf_file_bytes(flux_shapes, qtype) / GB
    assert abs(computed / published - 1) < 0.005


@pytest.mark.parametrize("qtype", ["Q3_K_S", "Q4_K_S", "Q5_K_S"])
def test_rule_gives_k_quant_files_to_the_rounding_of_the_repo_listing(flux_shapes, qtype):
    """The K-quant files' listed sizes (three significant digits) are the rule's bytes rounded."""
    computed = quant_size.gguf_file_bytes(flux_shapes, qtype) / GB
    assert round(computed, 2) == mac_memory.FLUX_GGUF_PUBLISHED_GB[qtype]


def test_embedders_stay_high_precision_and_blocks_are_quantized(flux_shapes):
    types = quant_size.tensor_types(flux_shapes, "Q4_0")
    assert types["img_in.weight"] == "F32"
    assert types["txt_in.weight"] == "F16"
    assert types["double_blocks.3.img_attn.qkv.bias"] == "F32"
    assert types["single_blocks.0.linear2.weight"] == "Q4_0"


def _miniature_bfl_shapes():
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        m = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                   attention_head_dim=32, num_attention_heads=2, joint_attention_dim=64,
                                   pooled_projection_dim=32, axes_dims_rope=[8, 12, 12])
    return {k: tuple(v.shape) for k, v in diffusers_to_bfl(m.state_dict()).items()}


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "F16"])
def test_file_bytes_equal_a_real_gguf_file_written_with_gguf_py(tmp_path, qtype):
    shapes = _miniature_bfl_shapes()
    types = quant_size.tensor_types(shapes, qtype)
    writer = gguf.GGUFWriter(path=None, arch="flux")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    rng = np.random.default_rng(0)
    for name, shape in shapes.items():
        gtype = gguf.GGMLQuantizationType[types[name]]
        data = gguf.quants.quantize(rng.standard_normal(shape).astype(np.float32), gtype)
        writer.add_tensor(name, data, raw_dtype=gtype)
    path = tmp_path / f"mini-{qtype}.gguf"
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    assert path.stat().st_size == quant_size.gguf_file_bytes(shapes, qtype)


def test_bits_per_weight_come_from_gguf_block_sizes():
    assert quant_size.bits_per_weight("Q8_0") == 8.5
    assert quant_size.bits_per_weight("Q4_K") == 4.5


def test_unknown_file_type_raises_a_clear_error():
    with pytest.raises(quant_size.QuantTypeError, match="use one of"):
        quant_size.gguf_file_bytes({"w.weight": (64, 64)}, "Q7_X")


@pytest.mark.parametrize("qtype", ["F16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q4_0"])
def test_the_library_writer_and_the_size_rule_agree_to_the_byte(tmp_path, qtype):
    """One rule decides each tensor's type for both: a written miniature file has the predicted size."""
    from diffusers import FluxTransformer2DModel

    from lib.gguf import write_flux_gguf
    from lib.gguf.writer import read_gguf_types

    torch.manual_seed(0)
    model = FluxTransformer2DModel(patch_size=1, in_channels=16, num_layers=1, num_single_layers=1,
                                   attention_head_dim=128, num_attention_heads=2, joint_attention_dim=256,
                                   pooled_projection_dim=32, axes_dims_rope=[16, 56, 56])
    path = write_flux_gguf(model, tmp_path / f"mini-{qtype}.gguf", qtype)
    shapes = {k: tuple(v.shape) for k, v in diffusers_to_bfl(model.state_dict()).items()}
    assert path.stat().st_size == quant_size.gguf_file_bytes(shapes, qtype)
    assert read_gguf_types(path) == quant_size.tensor_types(shapes, qtype)


def test_the_chapter_table_lists_every_published_file_and_marks_unrecorded_sizes_as_computed():
    from lib.architectures import tables
    from lib.registry import PRESETS

    cmp = tables.gguf_comparison("flux-schnell")
    published = PRESETS["flux-schnell"].published_gguf
    assert set(cmp.index) == set(published)
    for q, file in published.items():
        assert (cmp.loc[q, "size shown"] == "computed only") == (file.gb is None)
    assert cmp["computed (GB)"].is_monotonic_decreasing
