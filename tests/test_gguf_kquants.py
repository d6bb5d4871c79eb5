"""Our K-quant encoders write llama.cpp's block layout: gguf-py's reference decoder reads them back."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf.quants import dequantize

from lib.gguf.kquants import quantize_q4_k, quantize_q5_k, quantize_q6_k
from lib.gguf.quants import quantize
from lib.gguf.rule import QuantTypeError, tensor_type

ENCODERS = {"Q4_K": quantize_q4_k, "Q5_K": quantize_q5_k, "Q6_K": quantize_q6_k}
# Relative RMS error a K-quant of Gaussian weights should stay under (llama.cpp reports roughly halving
# per extra bit); measured here ~0.072, 0.036, 0.018.
BOUNDS = {"Q4_K": 0.09, "Q5_K": 0.045, "Q6_K": 0.023}


def _weights(rows=64, cols=1024, seed=0):
    return (np.random.default_rng(seed).standard_normal((rows, cols)) * 0.02).astype(np.float32)


def _rel_err(x, y):
    return float(np.sqrt(((x - y) ** 2).mean() / (x**2).mean()))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_k_quant_blocks_have_llama_cpp_size_and_decode_with_gguf_py(name):
    x = _weights()
    raw = ENCODERS[name](x)
    block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType[name]]
    assert raw.dtype == np.uint8 and raw.shape == (64, 1024 // block * type_size)
    y = dequantize(raw, GGMLQuantizationType[name])
    assert y.shape == x.shape
    assert _rel_err(x, y) < BOUNDS[name]


def test_k_quant_error_orders_by_bit_width_and_beats_legacy_types_of_the_same_size():
    x = _weights(seed=1)
    err = {n: _rel_err(x, dequantize(f(x), GGMLQuantizationType[n])) for n, f in ENCODERS.items()}
    assert err["Q6_K"] < err["Q5_K"] < err["Q4_K"]
    for k, legacy in (("Q4_K", "Q4_0"), ("Q5_K", "Q5_0")):
        t = GGMLQuantizationType[legacy]
        assert err[k] < _rel_err(x, dequantize(quantize(x, t), t))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_k_quants_keep_zeros_exact_and_piecewise_constant_rows_within_scale_precision(name):
    # Zeros decode exactly; sub-blocks holding a constant are off only by the 6/8-bit scale rounding.
    x = np.zeros((2, 256), np.float32)
    x[1] = np.repeat(np.arange(16, dtype=np.float32) - 8, 16) * 0.25
    y = dequantize(ENCODERS[name](x), GGMLQuantizationType[name])
    assert np.array_equal(y[0], x[0])
    assert np.abs(y[1] - x[1]).max() <= np.abs(x[1]).max() / 63


def test_k_quant_scales_follow_each_sub_block():
    # One loud sub-block must not crush the others to zero: each has its own 6-bit scale.
    x = _weights(rows=4, cols=256, seed=2)
    x[:, :32] *= 8  # a single 4-bit scale per 256 values would leave the rest ~8x coarser
    for name, f in ENCODERS.items():
        y = dequantize(f(x), GGMLQuantizationType[name])
        assert _rel_err(x[:, 32:], y[:, 32:]) < 1.5 * BOUNDS[name], name


def test_k_quants_refuse_rows_that_are_not_a_multiple_of_256():
    with pytest.raises(ValueError, match="multiple of 256"):
        quantize_q4_k(_weights(cols=320))


def test_quantize_encodes_exactly_the_given_type_and_refuses_rows_that_do_not_fill_blocks():
    t = GGMLQuantizationType
    assert dequantize(quantize(_weights(cols=256), t.Q4_K), t.Q4_K).shape == (64, 256)
    for qtype in (t.Q4_K, t.Q8_0):
        with pytest.raises(QuantTypeError, match="tensor_type"):  # no second fallback rule: the message names the one
            quantize(_weights(cols=48), qtype)


def test_the_one_fallback_rule_gives_f16_to_rows_that_do_not_fill_whole_blocks():
    # city96's lcpp.patch: F16, not llama.cpp's legacy Q5_0/Q5_1/Q8_0 substitutes for K-quants.
    assert tensor_type("double_blocks.0.img_mlp.0.weight", (512, 64), "Q4_K_S") == "F16"
    assert tensor_type("double_blocks.0.img_mlp.0.weight", (512, 256), "Q4_K_S") == "Q4_K"
    assert tensor_type("double_blocks.0.img_mlp.0.weight", (512, 48), "Q8_0") == "F16"
