"""GGUF block types as chapter 5 teaches them ("GGUF: weights in blocks"): what one block stores, bit by
bit, how a weight is decoded from it, and one Q4_K super-block decoded by hand.

The field layouts are ggml's block structs (`block_q4_K` etc. in ggml/src/ggml-common.h of llama.cpp; the
K-quants came with ggerganov/llama.cpp#1684). Their sizes are not trusted: `layouts` checks that the fields
add up to gguf-py's `GGML_QUANT_SIZES`, the table llama.cpp's readers use, and `decode_q4_k` is checked
against gguf-py's decoder by the tests.
"""

from __future__ import annotations

from typing import Any

import numpy as np

QK_K = 256  # weights per K-quant super-block

# type -> ((field, entries, bits per entry, what it holds), ...), per block, in ggml's struct order.
FIELDS: dict[str, tuple[tuple[str, int, int, str], ...]] = {
    "F16": (("w", 1, 16, "the weight as fp16"),),
    "Q8_0": (("d", 1, 16, "fp16 scale"), ("qs", 32, 8, "int8 weights")),
    "Q6_K": (("ql", 256, 4, "low 4 bits of each weight"), ("qh", 256, 2, "high 2 bits"),
             ("scales", 16, 8, "int8 scale per sub-block of 16"), ("d", 1, 16, "fp16 super-block scale")),
    "Q5_1": (("d", 1, 16, "fp16 scale"), ("m", 1, 16, "fp16 minimum"), ("qh", 32, 1, "fifth bit"),
             ("qs", 32, 4, "low 4 bits")),
    "Q5_K": (("d", 1, 16, "fp16 super-block scale"), ("dmin", 1, 16, "fp16 super-block min scale"),
             ("scales", 8, 6, "6-bit scale per sub-block of 32"), ("mins", 8, 6, "6-bit min per sub-block"),
             ("qh", 256, 1, "fifth bit"), ("qs", 256, 4, "low 4 bits")),
    "Q5_0": (("d", 1, 16, "fp16 scale"), ("qh", 32, 1, "fifth bit"), ("qs", 32, 4, "low 4 bits")),
    "Q4_1": (("d", 1, 16, "fp16 scale"), ("m", 1, 16, "fp16 minimum"), ("qs", 32, 4, "4-bit weights")),
    "Q4_K": (("d", 1, 16, "fp16 super-block scale"), ("dmin", 1, 16, "fp16 super-block min scale"),
             ("scales", 8, 6, "6-bit scale per sub-block of 32"), ("mins", 8, 6, "6-bit min per sub-block"),
             ("qs", 256, 4, "4-bit weights")),
    "Q4_0": (("d", 1, 16, "fp16 scale"), ("qs", 32, 4, "4-bit weights")),
    "Q3_K": (("hmask", 256, 1, "high bit"), ("qs", 256, 2, "low 2 bits"),
             ("scales", 16, 6, "6-bit scale per sub-block of 16"), ("d", 1, 16, "fp16 super-block scale")),
    "Q2_K": (("scales", 16, 4, "4-bit scale per sub-block of 16"), ("mins", 16, 4, "4-bit min per sub-block"),
             ("qs", 256, 2, "2-bit weights"), ("d", 1, 16, "fp16 super-block scale"),
             ("dmin", 1, 16, "fp16 super-block min scale")),
}

# How one weight comes back (gguf-py's dequantize_blocks; j is the weight's sub-block).
DECODE: dict[str, str] = {
    "F16": "w",
    "Q8_0": "d·q, q in [-128, 127]",
    "Q6_K": "d·sc_j·(q − 32), q in [0, 63]",
    "Q5_1": "d·q + m, q in [0, 31]",
    "Q5_K": "d·sc_j·q − dmin·m_j, q in [0, 31]",
    "Q5_0": "d·(q − 16), q in [0, 31]",
    "Q4_1": "d·q + m, q in [0, 15]",
    "Q4_K": "d·sc_j·q − dmin·m_j, q in [0, 15]",
    "Q4_0": "d·(q − 8), q in [0, 15]",
    "Q3_K": "d·(sc_j − 32)·q, q in [-4, 3]",
    "Q2_K": "d·sc_j·q − dmin·m_j, q in [0, 3]",
}


def sub_blocks(qtype: str) -> tuple[int, int, int]:
    """(sub-blocks per super-block, weights per sub-block, bits per sub-block scale) of a K-quant."""
    scales = next(f for f in FIELDS[qtype] if f[0] == "scales")
    return scales[1], QK_K // scales[1], scales[2]


def block_bits(qtype: str) -> int:
    """Bits of one block, summed over its fields."""
    return sum(n * bits for _, n, bits, _ in FIELDS[qtype])


def _fields_text(fields, bits_only: bool = False) -> str:
    """'d, dmin: fp16' / 'scales, mins: 6 bit' / '4 + 1 bit': a group of fields in a few words."""
    if not fields:
        return "-"
    if bits_only:
        return " + ".join(str(bits) for _, _, bits, _ in fields) + " bit"
    names = ", ".join(name for name, *_ in fields)
    widths = {bits for _, _, bits, _ in fields}
    return f"{names}: " + ("fp16" if widths == {16} else "/".join(f"{b}" for b in sorted(widths)) + " bit")


def layouts(types: tuple[str, ...]) -> Any:
    """One row per block type: weights per block, what is stored per block, per sub-block and per weight, bytes,
    bits per weight and how a weight is decoded. Raises when the fields do not add up to gguf-py's bytes."""
    import pandas as pd

    from lib.gguf.rule import block

    rows = []
    for t in types:
        elems, nbytes = block(t)
        if block_bits(t) != 8 * nbytes:
            raise ValueError(f"{t}: fields add up to {block_bits(t)} bits, gguf-py says {8 * nbytes}")
        fields = FIELDS[t]
        per_weight = [f for f in fields if f[1] == elems and elems > 1]
        per_block = [f for f in fields if f[1] == 1 and f not in per_weight]
        per_sub = [f for f in fields if f not in per_weight and f not in per_block]
        subs = f"{per_sub[0][1]} × {elems // per_sub[0][1]}" if per_sub else "-"
        rows.append({"type": t, "weights per block": elems, "sub-blocks": subs,
                     "per block": _fields_text(per_block), "per sub-block": _fields_text(per_sub),
                     "per weight": _fields_text(per_weight, bits_only=True) if per_weight else "-",
                     "bytes per block": nbytes, "bits per weight": f"{8 * nbytes / elems:g}",
                     "weight decoded as": DECODE[t]})
    return pd.DataFrame(rows).set_index("type")


def published_block_types(model: str = "flux-schnell") -> tuple[str, ...]:
    """The block types of a model's published GGUF files (the registry's list), most bits per weight first."""
    from lib.registry import model_spec

    types = {f.block_type for f in model_spec(model).published_gguf.values()}
    return tuple(sorted(types, key=lambda t: -block_bits(t) / _weights_per_block(t)))


def _weights_per_block(qtype: str) -> int:
    from lib.gguf.rule import block

    return block(qtype)[0]


def decode_q4_k(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Unpack one 144-byte Q4_K super-block into d, dmin, 8 scales, 8 mins and 256 levels q, and decode the
    weights with w = d·sc_j·q − dmin·m_j (j = the weight's sub-block of 32), the formula of ggml's
    `dequantize_row_q4_K`."""
    b = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if b.size != 144:
        raise ValueError(f"one Q4_K super-block is 144 bytes, got {b.size}")
    d, dmin = b[0:2].view(np.float16).astype(np.float32)[0], b[2:4].view(np.float16).astype(np.float32)[0]
    s = b[4:16]  # 8 scales and 8 mins, 6 bits each, packed into 12 bytes
    sc = np.concatenate([s[0:4] & 63, (s[8:12] & 0xF) | ((s[0:4] >> 6) << 4)])
    m = np.concatenate([s[4:8] & 63, (s[8:12] >> 4) | ((s[4:8] >> 6) << 4)])
    qs = b[16:144].reshape(4, 32)  # four chunks of 64 weights: low nibbles first 32, high nibbles next 32
    q = np.stack([qs & 0xF, qs >> 4], axis=1).reshape(8, 32).astype(np.float32)
    w = d * sc[:, None].astype(np.float32) * q - dmin * m[:, None].astype(np.float32)
    return {"d": d, "dmin": dmin, "scales": sc, "mins": m, "q": q.reshape(QK_K), "w": w.reshape(QK_K)}


def example(qtype: str = "Q4_0", seed: int = 0) -> dict[str, float]:
    """Quantize one block of random weights (normal, std 0.02) and measure what comes back."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    from lib.gguf.quants import dequantize, quantize

    q = GGMLQuantizationType[qtype]
    elems = GGML_QUANT_SIZES[q][0]
    w = np.random.default_rng(seed).normal(0, 0.02, size=(1, elems)).astype(np.float32)
    raw = quantize(w, q)
    back = dequantize(raw, q).reshape(w.shape)
    return {"weights": elems, "bytes": int(raw.nbytes), "fp32 bytes": int(w.nbytes),
            "max abs error": float(np.abs(back - w).max()),
            "rel rms": float(np.linalg.norm(back - w) / np.linalg.norm(w))}
