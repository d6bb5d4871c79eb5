"""FLUX GGUF files in BFL naming: exact conversion at F32, quantized loading, errors ordered by bit width,
and loading through a memory map of the file (the same tensors as diffusers' reader, without its copy)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from lib.errors import ConfigError, WeightsError
from lib.gguf import load_flux_transformer_gguf, write_flux_gguf
from lib.gguf.keymap import bfl_to_diffusers, diffusers_to_bfl
import lib.gguf.loader as loader
from lib.gguf.measure import weight_error
from lib.gguf.reader import read_gguf_tensors
from lib.gguf.writer import dequantized_state, read_gguf_types

QUANTIZED = ["BF16", "Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q4_0"]


@pytest.fixture(scope="module")
def reference(miniatures):
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel.from_pretrained(miniatures.flux, subfolder="transformer").eval()


@pytest.fixture(scope="module")
def flux_images(miniatures, reference, generate_np):
    """Unquantized and per-qtype images, seed 0 twice each, from otherwise identical pipelines."""
    from diffusers import FluxPipeline

    def images(transformer):
        pipe = FluxPipeline.from_pretrained(miniatures.flux, transformer=transformer)
        return [generate_np(pipe, seed=s, guidance_scale=0.0, max_sequence_length=64) for s in (0, 0)]

    out = {"reference": images(reference)}
    for q in miniatures.gguf:
        out[q] = images(load_flux_transformer_gguf(miniatures.gguf[q], miniatures.flux, torch.float32))
    return out


def _forward_inputs(cfg) -> dict:
    """Seeded inputs for one transformer forward: 16 image tokens, 8 text tokens."""
    g = torch.Generator().manual_seed(0)
    return dict(
        hidden_states=torch.randn(1, 16, cfg.in_channels, generator=g),
        encoder_hidden_states=torch.randn(1, 8, cfg.joint_attention_dim, generator=g),
        pooled_projections=torch.randn(1, cfg.pooled_projection_dim, generator=g),
        timestep=torch.tensor([0.5]), img_ids=torch.zeros(16, 3), txt_ids=torch.zeros(8, 3),
    )


def _diffusers_reader(path):
    """diffusers' own GGUF reader (`torch.from_numpy(tensor.data.copy())` per tensor): the loader's old path."""
    from diffusers.models.model_loading_utils import load_gguf_checkpoint

    return load_gguf_checkpoint(str(path))


def _assert_same_tensors(got: dict, want: dict) -> None:
    """Same keys, tensor classes, GGUF quant types, dtypes, shapes and bytes."""
    assert got.keys() == want.keys()
    for k in want:
        a, b = got[k], want[k]
        assert type(a) is type(b), k
        assert getattr(a, "quant_type", None) == getattr(b, "quant_type", None), k
        assert (a.dtype, a.shape) == (b.dtype, b.shape), k
        assert torch.equal(a, b), k


def _file_mappings(path) -> list[tuple[int, int, str]]:
    """(start, end, permissions) of this process's memory mappings of `path`, from /proc/self/maps."""
    real = os.path.realpath(path)
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") == real:
                start, end = (int(x, 16) for x in fields[0].split("-"))
                out.append((start, end, fields[1]))
    return out


def test_bfl_names_round_trip_to_the_same_diffusers_state():
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)  # two blocks of each kind, so block indices are exercised
    sd = FluxTransformer2DModel(in_channels=64, num_layers=2, num_single_layers=2, attention_head_dim=16,
                                num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,
                                axes_dims_rope=(4, 4, 8)).state_dict()
    bfl = diffusers_to_bfl(sd)
    assert "double_blocks.1.img_attn.qkv.weight" in bfl and "single_blocks.1.linear1.weight" in bfl
    assert not any(k.startswith(("transformer_blocks", "single_transformer_blocks")) for k in bfl)
    inner = sd["x_embedder.bias"].shape[0]
    assert bfl["double_blocks.0.img_attn.qkv.weight"].shape[0] == 3 * inner
    # Final adaLN: BFL stores (shift, scale), diffusers (scale, shift).
    assert torch.equal(bfl["final_layer.adaLN_modulation.1.weight"][:inner], sd["norm_out.linear.weight"][inner:])
    back = bfl_to_diffusers(bfl)
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)


def test_f32_gguf_loads_to_the_identical_state_dict_and_forward(miniatures, reference):
    model = load_flux_transformer_gguf(miniatures.gguf["F32"], miniatures.flux, torch.float32)
    ref_sd, sd = reference.state_dict(), model.state_dict()
    assert sd.keys() == ref_sd.keys() and all(torch.equal(sd[k], ref_sd[k]) for k in ref_sd)
    inputs = _forward_inputs(reference.config)
    with torch.no_grad():
        # Same weights, two kernels (diffusers' GGUF linear vs nn.Linear): float32 sums may round differently,
        # and do on some CPUs (bit-equal on Intel, ~5e-7 apart on AMD EPYC with outputs up to ~2, i.e. ~1e-6
        # relative). So: equal within float32 rounding, not bit-equal; the state dict above is bit-equal (same bytes).
        torch.testing.assert_close(model(**inputs).sample, reference(**inputs).sample, rtol=1e-5, atol=1e-5)


def test_files_store_big_matrices_quantized_and_small_or_1d_tensors_in_f32(miniatures):
    types = read_gguf_types(miniatures.gguf["Q4_K"])
    assert types["double_blocks.0.img_attn.qkv.weight"] == "Q4_K"
    assert types["single_blocks.0.linear2.weight"] == "Q4_K"
    assert types["double_blocks.0.img_attn.qkv.bias"] == "F32"  # 1-D
    assert types["img_in.weight"] == "F32" and types["final_layer.linear.weight"] == "F32"  # city96 keep-list
    assert set(read_gguf_types(miniatures.gguf["F32"]).values()) == {"F32"}


@pytest.mark.parametrize("qtype", QUANTIZED)
def test_quantized_files_load_with_weights_kept_quantized(miniatures, qtype):
    from diffusers.quantizers.gguf.utils import GGUFParameter

    model = load_flux_transformer_gguf(miniatures.gguf[qtype], miniatures.flux, torch.float32)
    weight = model.transformer_blocks[0].attn.to_q.weight
    assert isinstance(weight, GGUFParameter) and weight.quant_type.name == qtype


def test_weight_error_orders_by_bit_width(miniatures):
    ref = dequantized_state(miniatures.gguf["F32"])
    err = {q: weight_error(miniatures.gguf[q], ref) for q in ["Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q4_0"]}
    assert 0 < err["Q8_0"] < err["Q6_K"] < err["Q5_K"] < err["Q4_K"] < err["Q4_0"]


def test_gguf_images_are_deterministic_and_differ_from_unquantized_in_bit_width_order(flux_images):
    ref = flux_images["reference"][0]
    for q, (first, again) in flux_images.items():
        assert first.shape == (64, 64, 3) and np.isfinite(first).all(), q
        assert np.array_equal(first, again), q  # same seed, same pixels
    diff = {q: float(np.abs(imgs[0] - ref).mean()) for q, imgs in flux_images.items()}
    # F32 holds the same weights, run by another linear kernel: equal up to float32 rounding (see above),
    # far below Q8_0's ~1.6e-5 here.
    assert diff["F32"] < 1e-6
    assert 0 < diff["Q8_0"] < diff["Q6_K"] < diff["Q5_K"] < diff["Q4_K"]
    assert diff["Q5_K"] < diff["Q4_0"] < 3 * diff["Q4_K"]  # Q4_0 sits with the 4-bit types


def test_truncated_gguf_file_raises_a_clear_weights_error(miniatures, tmp_path):
    data = miniatures.gguf["Q8_0"].read_bytes()
    for name, content in (("truncated.gguf", data[: len(data) // 2]), ("header.gguf", data[:100]),
                          ("garbage.gguf", b"not a gguf file at all" * 10)):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(WeightsError, match=name):
            load_flux_transformer_gguf(path, miniatures.flux, torch.float32)
    with pytest.raises(WeightsError, match="not found"):
        load_flux_transformer_gguf(tmp_path / "missing.gguf", miniatures.flux, torch.float32)


def test_gguf_of_another_model_size_is_refused_with_a_clear_error(miniatures, tmp_path):
    from diffusers import FluxTransformer2DModel

    other = FluxTransformer2DModel(patch_size=1, in_channels=64, num_layers=1, num_single_layers=1,
                                   attention_head_dim=128, num_attention_heads=1, joint_attention_dim=128,
                                   pooled_projection_dim=32, axes_dims_rope=(16, 56, 56))
    path = write_flux_gguf(other, tmp_path / "other.gguf", "F16")
    with pytest.raises(WeightsError, match="same model"):
        load_flux_transformer_gguf(path, miniatures.flux, torch.float32)


def test_unknown_qtype_is_refused_and_no_partial_file_is_left(reference, tmp_path):
    with pytest.raises(ConfigError, match="Q4_K"):
        write_flux_gguf(reference, tmp_path / "x.gguf", "Q3_XS")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("qtype", ["Q4_K", "BF16", "F16", "F32"])
def test_mmap_reader_gives_the_tensors_diffusers_reader_gives(miniatures, qtype):
    _assert_same_tensors(read_gguf_tensors(miniatures.gguf[qtype]), _diffusers_reader(miniatures.gguf[qtype]))


@pytest.mark.parametrize("qtype", ["Q4_K", "BF16", "F16"])
def test_mmap_loaded_transformer_equals_the_one_loaded_through_diffusers_reader(miniatures, qtype, monkeypatch):
    new = load_flux_transformer_gguf(miniatures.gguf[qtype], miniatures.flux, torch.float32)
    with monkeypatch.context() as m:
        m.setattr(loader, "read_gguf_tensors", _diffusers_reader)
        old = load_flux_transformer_gguf(miniatures.gguf[qtype], miniatures.flux, torch.float32)
    _assert_same_tensors(new.state_dict(), old.state_dict())  # bit for bit, quant types included
    inputs = _forward_inputs(old.config)
    with torch.no_grad():
        # Same weights and kernels: equal in practice; compared within float32 rounding, as across CPU vendors.
        torch.testing.assert_close(new(**inputs).sample, old(**inputs).sample, rtol=1e-6, atol=1e-6)


def test_loading_copies_no_gguf_data_where_diffusers_reader_copies_all(miniatures, monkeypatch):
    """Count copies of gguf-py's memmap arrays (diffusers' reader does `tensor.data.copy()` per tensor)."""
    path = miniatures.gguf["Q4_K"]
    calls = []
    original = np.memmap.copy

    def counting_copy(self, *args, **kwargs):
        calls.append(self.nbytes)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(np.memmap, "copy", counting_copy, raising=False)
    with monkeypatch.context() as m:  # the counter sees the old path's copies: every tensor, the whole file
        m.setattr(loader, "read_gguf_tensors", _diffusers_reader)
        load_flux_transformer_gguf(path, miniatures.flux, torch.float32)
    n_tensors = len(gguf.GGUFReader(str(path)).tensors)
    assert len(calls) == n_tensors and sum(calls) > 0.9 * path.stat().st_size
    calls.clear()
    load_flux_transformer_gguf(path, miniatures.flux, torch.float32)
    assert calls == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_quantized_weights_live_in_a_read_only_mapping_of_the_file(miniatures):
    from diffusers.quantizers.gguf.utils import GGUFParameter

    path = miniatures.gguf["Q4_K"]
    model = load_flux_transformer_gguf(path, miniatures.flux, torch.float32)
    maps = _file_mappings(path)
    assert maps and all(perms.startswith("r-") for _, _, perms in maps)  # read-only: nothing can write to it
    quantized = [(n, p) for n, p in model.named_parameters() if isinstance(p, GGUFParameter)]
    block_bytes = sum(int(t.n_bytes) for t in gguf.GGUFReader(str(path)).tensors if t.tensor_type.name == "Q4_K")
    assert sum(p.numel() for _, p in quantized) == block_bytes  # every block-quantized byte of the file is a weight
    for name, p in quantized:
        start, end = p.data_ptr(), p.data_ptr() + p.numel() * p.element_size()
        assert any(lo <= start and end <= hi for lo, hi, _ in maps), f"{name} is not in the file's mapping"
    with torch.no_grad():  # a write into the read-only pages would kill the process: a forward writes none
        assert torch.isfinite(model(**_forward_inputs(model.config)).sample).all()


def test_unsupported_block_type_is_refused_with_a_clear_weights_error(miniatures, tmp_path):
    path = tmp_path / "ternary.gguf"
    writer = gguf.GGUFWriter(path=None, arch="flux")
    tq = gguf.GGMLQuantizationType.TQ1_0  # gguf-py encodes it; diffusers cannot dequantize it
    writer.add_tensor("img_in.weight", gguf.quants.quantize(np.zeros((4, 256), np.float32), tq), raw_dtype=tq)
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(WeightsError, match="TQ1_0"):
        load_flux_transformer_gguf(path, miniatures.flux, torch.float32)


@pytest.mark.parametrize("qtype", ["Q4_K", "Q8_0"])
def test_chunked_dequantization_computes_the_same_layer_with_bounded_chunks(miniatures, qtype, monkeypatch):
    """Loaded transformers dequantize in row chunks (lib.gguf.chunked): the same outputs as diffusers' whole-weight
    forward, and no dequantized piece larger than the chunk limit. Summation order may differ between GEMM
    calls of different widths, so the comparison allows float32 rounding (1e-6 relative)."""
    import diffusers.quantizers.gguf.utils as gguf_utils
    from lib.gguf import chunked

    model = load_flux_transformer_gguf(miniatures.gguf[qtype], miniatures.flux, torch.float32)
    layers = [m for m in model.modules() if isinstance(m, gguf_utils.GGUFLinear)]
    assert layers and all(type(m).__name__ == "ChunkedGGUFLinear" for m in layers)
    layer = max(layers, key=lambda m: m.weight.shape[0])
    x = torch.randn(3, layer.in_features, generator=torch.Generator().manual_seed(0))
    whole = gguf_utils.GGUFLinear.forward_native(layer, x)
    sizes = []
    real = gguf_utils.dequantize_gguf_tensor
    monkeypatch.setattr(gguf_utils, "dequantize_gguf_tensor", lambda t: sizes.append(t.shape[0]) or real(t))
    limit = 4 * layer.in_features * 5  # five rows per chunk: forces several chunks on the miniature
    parts = chunked.chunked_forward(layer, x, chunk_bytes=limit)
    assert len(sizes) == -(-layer.weight.shape[0] // 5) and max(sizes) == 5
    torch.testing.assert_close(parts, whole, rtol=1e-6, atol=1e-6)
    assert chunked.rows_per_chunk(3072) * 3072 * 4 <= chunked.CHUNK_BYTES  # FLUX's width at full size


def test_release_pages_drops_only_mapped_plain_tensors_and_changes_no_value(miniatures):
    """After loading, the F32/F16 pages of the map are dropped from the process (madvise); values stay, since a
    read faults the file's bytes back in. Tensors outside the mapping (another reader's copies) are never
    advised: on anonymous memory the same call would zero them."""
    from lib.gguf.reader import release_pages

    qtype = next(q for q in miniatures.gguf if q in ("F32", "F16"))
    mapped = read_gguf_tensors(miniatures.gguf[qtype])
    before = {k: v.clone() for k, v in mapped.items()}
    assert release_pages(mapped) > 0
    assert all(torch.equal(before[k], mapped[k]) for k in before)
    copies = _diffusers_reader(miniatures.gguf[qtype])  # anonymous memory
    kept = {k: v.clone() for k, v in copies.items()}
    assert release_pages(copies) == 0 and all(torch.equal(kept[k], copies[k]) for k in kept)
    # The span guard itself: anonymous tensors under the real mapping's span are outside it, never advised.
    from lib.gguf.reader import MappedTensors

    foreign = MappedTensors({k: v.clone() for k, v in mapped.items()})
    foreign.span = mapped.span
    assert release_pages(foreign) == 0 and all(torch.equal(before[k], foreign[k]) for k in before)


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads the mapping's resident size from /proc (Linux)")
def test_release_pages_really_lowers_the_mappings_resident_size(miniatures):
    from lib.gguf.reader import release_pages

    qtype = next(q for q in miniatures.gguf if q in ("F32", "F16"))
    mapped = read_gguf_tensors(miniatures.gguf[qtype])
    for tensor in mapped.values():
        tensor.sum()  # touch every page, as diffusers' dtype casts do
    touched = _mapping_rss_kb(mapped.span)
    release_pages(mapped)
    assert touched > 1000 and _mapping_rss_kb(mapped.span) < touched / 10


def _mapping_rss_kb(span: tuple[int, int]) -> int:
    """Resident kB of the mapping that starts at span[0], from /proc/self/smaps."""
    rss, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()[0]
        if "-" in head and ":" not in head:  # a mapping's header line: start-end perms ...
            start, end = (int(x, 16) for x in head.split("-"))
            inside = start <= span[0] < end
        elif inside and line.startswith("Rss:"):
            rss += int(line.split()[1])
    return rss
