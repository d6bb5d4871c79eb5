"""Chapter 5's quantization study and block layouts: weight error ordered by bits, full-size estimates against the
published files, block fields against gguf-py, and the Q4_K formula against gguf-py's decoder."""

from __future__ import annotations

import pytest
from PIL import Image

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from lib import quant_study
from lib.chapters import blocks
from lib.gguf.quants import dequantize, quantize
from lib.gguf.measure import weight_error
from lib.registry import file_type_of_block, published_gguf_gb


def test_weight_error_grows_as_bits_shrink(miniatures):
    f32 = miniatures.gguf["F32"]
    errors = [weight_error(miniatures.gguf[q], f32) for q in quant_study.STUDY_TYPES]  # most to fewest bits
    assert errors == sorted(errors)
    assert errors[0] > 0  # F16 is not exact
    assert weight_error(f32, f32) == 0


@pytest.mark.parametrize("qtype", ["F16", "Q8_0", "Q5_K", "Q4_K", "Q4_0"])
def test_full_size_estimate_matches_the_published_file(qtype):
    published = published_gguf_gb(quant_study.MODEL)[file_type_of_block(qtype)]
    assert quant_study.full_size_bytes(qtype) / 1e9 == pytest.approx(published, rel=0.01)


def test_table_says_which_study_types_are_published_even_where_the_size_is_not_recorded():
    assert quant_study.published_size("Q4_K_S") == f"{published_gguf_gb(quant_study.MODEL)['Q4_K_S']:.2f}"
    assert quant_study.published_size("Q6_K") == "published, size not recorded"  # city96 has the file
    assert quant_study.published_size("BF16") == "not published"


def test_pixel_difference_is_zero_for_identical_images_and_counts_0_to_255():
    a = Image.new("RGB", (4, 4), (10, 20, 30))
    assert quant_study.pixel_mad(a, a) == 0
    assert quant_study.pixel_mad(a, Image.new("RGB", (4, 4), (14, 20, 30))) == pytest.approx(4 / 3)


@pytest.mark.parametrize("qtype", list(blocks.FIELDS))
def test_block_fields_add_up_to_gguf_py_bytes_per_block(qtype):
    elems, nbytes = GGML_QUANT_SIZES[GGMLQuantizationType[qtype]]
    assert blocks.block_bits(qtype) == 8 * nbytes
    row = blocks.layouts((qtype,)).loc[qtype]
    assert float(row["bits per weight"]) == 8 * nbytes / elems and row["bytes per block"] == nbytes


def test_layouts_refuse_fields_that_do_not_add_up(monkeypatch):
    monkeypatch.setitem(blocks.FIELDS, "Q4_0", (("d", 1, 16, "scale"), ("qs", 32, 3, "too few bits")))
    with pytest.raises(ValueError, match="Q4_0"):
        blocks.layouts(("Q4_0",))


def test_q4_k_formula_decodes_exactly_what_gguf_py_decodes():
    w = np.random.default_rng(3).normal(0, 0.05, size=(1, 256)).astype(np.float32)
    raw = quantize(w, GGMLQuantizationType.Q4_K)
    hand = blocks.decode_q4_k(raw[0])
    assert np.array_equal(hand["w"], dequantize(raw, GGMLQuantizationType.Q4_K).reshape(-1))
    assert hand["scales"].max() <= 63 and hand["mins"].max() <= 63  # 6-bit fields
    assert set(np.unique(hand["q"])) <= set(range(16))  # 4-bit levels
    with pytest.raises(ValueError, match="144 bytes"):
        blocks.decode_q4_k(raw[0][:100])


def test_block_table_lists_the_block_types_of_every_published_file():
    types = blocks.published_block_types()
    assert {"Q6_K", "Q4_K", "Q8_0", "Q3_K", "Q4_1", "Q5_1"} <= set(types)  # city96 publishes these files
    bits = [blocks.block_bits(t) / GGML_QUANT_SIZES[GGMLQuantizationType[t]][0] for t in types]
    assert bits == sorted(bits, reverse=True)
    assert blocks.sub_blocks("Q4_K") == (8, 32, 6) and blocks.sub_blocks("Q6_K") == (16, 16, 8)
