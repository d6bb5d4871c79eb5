"""Chapter 5's quantization study: weight error ordered by bits, full-size estimates against the published files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from lib import quant_study
from lib.hardware import FLUX_GGUF_PUBLISHED_GB


@pytest.fixture(scope="module")
def miniatures():
    from lib.miniature import ensure_miniatures

    return ensure_miniatures()


def test_weight_error_grows_as_bits_shrink(miniatures):
    errors = [quant_study.weight_rel_rms(Path(miniatures.gguf[q]), Path(miniatures.gguf["F32"]))
              for q in quant_study.STUDY_TYPES]  # listed from most to fewest bits per weight
    assert errors == sorted(errors)
    assert errors[0] > 0  # F16 is not exact
    assert quant_study.weight_rel_rms(Path(miniatures.gguf["F32"]), Path(miniatures.gguf["F32"])) == 0


@pytest.mark.parametrize("qtype", ["F16", "Q8_0", "Q5_K", "Q4_K", "Q4_0"])
def test_full_size_estimate_matches_the_published_file(qtype):
    published = FLUX_GGUF_PUBLISHED_GB[quant_study.FILE_TYPE[qtype]]
    assert quant_study.full_size_bytes(qtype) / 1e9 == pytest.approx(published, rel=0.01)


def test_pixel_difference_is_zero_for_identical_images_and_counts_0_to_255():
    a = Image.new("RGB", (4, 4), (10, 20, 30))
    assert quant_study.pixel_mad(a, a) == 0
    assert quant_study.pixel_mad(a, Image.new("RGB", (4, 4), (14, 20, 30))) == pytest.approx(4 / 3)
