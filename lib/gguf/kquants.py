"""Our own encoders for llama.cpp's K-quants (Q4_K, Q5_K, Q6_K), which gguf-py can only decode.

Block layouts and the scale search follow llama.cpp's reference quantizers (`quantize_row_q4_K_ref`,
`quantize_row_q5_K_ref`, `quantize_row_q6_K_ref` and their helpers `make_qkx2_quants` / `make_qx_quants`
in ggml-quants.c, the k-quants PR ggerganov/llama.cpp#1684), vectorised over blocks with numpy.
Every encoder takes rows whose width is a multiple of 256 (one super-block) and returns uint8 blocks;
`gguf.quants.dequantize` decodes them, which is how the tests check them.
"""

from __future__ import annotations

import numpy as np

QK_K = 256  # elements per super-block


def _round(x: np.ndarray) -> np.ndarray:
    """llama.cpp's nearest_int: round to nearest, ties to even (its float magic-number trick)."""
    return np.rint(x)


def _f16(x: np.ndarray) -> np.ndarray:
    """The float16 value a block actually stores, as float32 (quantize against what the decoder sees)."""
    return x.astype(np.float16).astype(np.float32)


def _make_qkx2(x: np.ndarray, w: np.ndarray, nmax: int, rmin: float, rdelta: float, nstep: int):
    """Asymmetric sub-block quantization x ~ scale*L - m, L in [0, nmax], by weighted least squares over
    nstep+1 candidate inverse scales (llama.cpp `make_qkx2_quants`). Rows of x are sub-blocks.
    Returns (scale, m) per row with m >= 0."""
    mn = np.minimum(x.min(axis=1), 0.0)  # the min is clamped to <= 0, so m = -mn >= 0
    mx = x.max(axis=1)
    flat = mx == mn
    rng = np.where(flat, 1.0, mx - mn)
    iscale = nmax / rng
    scale = 1.0 / iscale
    q = np.clip(_round(iscale[:, None] * (x - mn[:, None])), 0, nmax)
    best_scale, best_min = scale, mn
    best_err = (w * (scale[:, None] * q + mn[:, None] - x) ** 2).sum(axis=1)
    sum_w, sum_x = w.sum(axis=1), (w * x).sum(axis=1)
    for step in range(nstep + 1):
        iscale = (rmin + rdelta * step + nmax) / rng
        q = np.clip(_round(iscale[:, None] * (x - mn[:, None])), 0, nmax)
        sum_l, sum_l2, sum_xl = (w * q).sum(1), (w * q * q).sum(1), (w * q * x).sum(1)
        det = sum_w * sum_l2 - sum_l * sum_l
        ok = det > 0
        safe = np.where(ok, det, 1.0)
        this_scale = (sum_w * sum_xl - sum_x * sum_l) / safe
        this_min = (sum_l2 * sum_x - sum_l * sum_xl) / safe
        pos = this_min > 0  # a positive min is not representable: refit the scale alone
        this_scale = np.where(pos, sum_xl / np.where(sum_l2 > 0, sum_l2, 1.0), this_scale)
        this_min = np.where(pos, 0.0, this_min)
        err = (w * (this_scale[:, None] * q + this_min[:, None] - x) ** 2).sum(axis=1)
        better = ok & (err < best_err)
        best_err = np.where(better, err, best_err)
        best_scale = np.where(better, this_scale, best_scale)
        best_min = np.where(better, this_min, best_min)
    best_scale = np.where(flat, 0.0, best_scale)
    best_min = np.where(flat, mn, best_min)
    return best_scale.astype(np.float32), (-best_min).astype(np.float32)


def _pack_scales_mins(ls: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Pack 8 six-bit scales and 8 six-bit mins into 12 bytes (llama.cpp's Q4_K/Q5_K `scales` field)."""
    out = np.zeros((ls.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (ls[:, 0:4] & 63) | ((ls[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (lm[:, 0:4] & 63) | ((lm[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    return out


def _scale_min_blocks(blocks: np.ndarray, nmax: int, rmin: float, nstep: int):
    """Shared first half of Q4_K/Q5_K: per-sub-block (32) scales and mins, quantized to 6 bits against
    float16 super-block factors d and dmin; returns (d, dmin, packed scales, L levels)."""
    n = blocks.shape[0]
    sub = blocks.reshape(n * 8, 32)
    av_x = np.sqrt((sub * sub).mean(axis=1, keepdims=True))
    weights = av_x + np.abs(sub)  # llama.cpp's importance weights when no imatrix is given
    scales, mins = _make_qkx2(sub, weights, nmax, rmin, 0.1, nstep)
    scales, mins = scales.reshape(n, 8), mins.reshape(n, 8)
    max_scale, max_min = scales.max(axis=1), mins.max(axis=1)
    inv_scale = np.where(max_scale > 0, 63.0 / np.where(max_scale > 0, max_scale, 1), 0.0)
    inv_min = np.where(max_min > 0, 63.0 / np.where(max_min > 0, max_min, 1), 0.0)
    ls = np.minimum(_round(inv_scale[:, None] * scales), 63).astype(np.uint8)
    lm = np.minimum(_round(inv_min[:, None] * mins), 63).astype(np.uint8)
    d = _f16(max_scale / 63.0)
    dmin = _f16(max_min / 63.0)
    # Re-quantize the values against what the decoder will reconstruct: d*ls and dmin*lm.
    sd = (d[:, None] * ls).reshape(n * 8, 1)
    sm = (dmin[:, None] * lm).reshape(n * 8, 1)
    safe = np.where(sd == 0, 1.0, sd)
    levels = np.where(sd == 0, 0, np.clip(_round((sub + sm) / safe), 0, nmax)).astype(np.uint8)
    return d, dmin, _pack_scales_mins(ls, lm), levels.reshape(n, QK_K)


def _as_blocks(data: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Rows -> super-blocks of 256; K-quants need the row width to be a multiple of 256."""
    data = np.asarray(data, dtype=np.float32)
    if data.shape[-1] % QK_K != 0:
        raise ValueError(f"K-quants need rows that are a multiple of {QK_K} wide, got shape {data.shape}")
    return data.reshape(-1, QK_K), data.shape


def _byte_shape(shape: tuple[int, ...], type_size: int) -> tuple[int, ...]:
    return (*shape[:-1], shape[-1] // QK_K * type_size)


def quantize_q4_k(data: np.ndarray) -> np.ndarray:
    """Q4_K: 144 bytes per 256 values = d, dmin (f16), 12 bytes of 6-bit scales/mins, 128 bytes of nibbles."""
    blocks, shape = _as_blocks(data)
    d, dmin, scales, levels = _scale_min_blocks(blocks, nmax=15, rmin=-1.0, nstep=20)
    lv = levels.reshape(-1, 4, 2, 32)  # four 64-value chunks: low nibble = first 32, high = next 32
    qs = (lv[:, :, 0, :] | (lv[:, :, 1, :] << 4)).reshape(-1, 128)
    out = np.concatenate([d.astype(np.float16).view(np.uint8).reshape(-1, 2),
                          dmin.astype(np.float16).view(np.uint8).reshape(-1, 2), scales, qs], axis=1)
    return out.reshape(_byte_shape(shape, 144))


def quantize_q5_k(data: np.ndarray) -> np.ndarray:
    """Q5_K: 176 bytes per 256 values = Q4_K's fields plus 32 bytes holding each value's fifth bit."""
    blocks, shape = _as_blocks(data)
    d, dmin, scales, levels = _scale_min_blocks(blocks, nmax=31, rmin=-0.5, nstep=15)
    lv = levels.reshape(-1, 8, 32)  # sub-block s, element j
    high = (lv >> 4) & 1
    qh = np.zeros((lv.shape[0], 32), dtype=np.uint8)
    for s in range(8):  # bit s of qh[j] is the fifth bit of sub-block s, element j
        qh |= (high[:, s, :] << s).astype(np.uint8)
    low = (lv & 0xF).reshape(-1, 4, 2, 32)
    qs = (low[:, :, 0, :] | (low[:, :, 1, :] << 4)).reshape(-1, 128)
    out = np.concatenate([d.astype(np.float16).view(np.uint8).reshape(-1, 2),
                          dmin.astype(np.float16).view(np.uint8).reshape(-1, 2), scales, qh, qs], axis=1)
    return out.reshape(_byte_shape(shape, 176))


def _make_qx(x: np.ndarray, nmax: int) -> np.ndarray:
    """Symmetric sub-block scale, x ~ scale*L, L in [-nmax, nmax-1], searched over 19 inverse scales with
    weights x^2 (llama.cpp `make_qx_quants`, rmse_type 1). Rows of x are sub-blocks; returns scale per row."""
    idx = np.abs(x).argmax(axis=1)
    mx = x[np.arange(x.shape[0]), idx]
    zero = np.abs(mx) < 1e-15
    mx_safe = np.where(zero, 1.0, mx)
    w = x * x

    def fit(iscale):
        q = np.clip(_round(iscale[:, None] * x), -nmax, nmax - 1)
        return (w * x * q).sum(1), (w * q * q).sum(1)

    sumlx, suml2 = fit(-nmax / mx_safe)
    scale = np.where(suml2 > 0, sumlx / np.where(suml2 > 0, suml2, 1), 0.0)
    best = scale * sumlx
    for step in range(-9, 10):
        if step == 0:
            continue
        sumlx, suml2 = fit(-(nmax + 0.1 * step) / mx_safe)
        better = (suml2 > 0) & (sumlx * sumlx > best * suml2)
        new_scale = sumlx / np.where(suml2 > 0, suml2, 1)
        scale = np.where(better, new_scale, scale)
        best = np.where(better, new_scale * sumlx, best)
    return np.where(zero, 0.0, scale).astype(np.float32)


def quantize_q6_k(data: np.ndarray) -> np.ndarray:
    """Q6_K: 210 bytes per 256 values = 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, d."""
    blocks, shape = _as_blocks(data)
    n = blocks.shape[0]
    sub = blocks.reshape(n * 16, 16)
    scales = _make_qx(sub, 32).reshape(n, 16)
    pick = np.abs(scales).argmax(axis=1)
    max_scale = scales[np.arange(n), pick]
    has = np.abs(max_scale) >= 1e-15
    iscale = np.where(has, -128.0 / np.where(has, max_scale, 1.0), 0.0)
    d = _f16(np.where(has, 1.0 / np.where(iscale == 0, 1.0, iscale), 0.0))
    ls = np.minimum(_round(iscale[:, None] * scales), 127).astype(np.int8)
    sd = (d[:, None] * ls.astype(np.float32)).reshape(n * 16, 1)
    safe = np.where(sd == 0, 1.0, sd)
    levels = np.where(sd == 0, 32, np.clip(_round(sub / safe), -32, 31) + 32).astype(np.uint8).reshape(n, 2, 4, 32)
    # Per 128-value half: ql[l] = q(l) | q(l+64)<<4, ql[l+32] = q(l+32) | q(l+96)<<4,
    # qh[l] = the top two bits of q(l), q(l+32), q(l+64), q(l+96) at shifts 0, 2, 4, 6.
    low, high = levels & 0xF, levels >> 4
    ql = np.concatenate([low[:, :, 0] | (low[:, :, 2] << 4), low[:, :, 1] | (low[:, :, 3] << 4)], axis=2)
    qh = high[:, :, 0] | (high[:, :, 1] << 2) | (high[:, :, 2] << 4) | (high[:, :, 3] << 6)
    out = np.concatenate([ql.reshape(n, 128), qh.reshape(n, 64), ls.view(np.uint8),
                          d.astype(np.float16).view(np.uint8).reshape(n, 2)], axis=1)
    return out.reshape(_byte_shape(shape, 210))
