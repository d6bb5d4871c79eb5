"""Chapter 5's quantization study: weight error ordered by bits, full-size estimates against the published files."""

from __future__ import annotations

import pytest
from PIL import Image

from lib import quant_study
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
