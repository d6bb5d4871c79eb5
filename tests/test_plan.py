"""The memory plan before a load: stage sizes from the architectures, T5's fp32 `wo` under fp16, and the
fit / warn / refuse answer against each kind of machine, with the device's memory patched."""

from types import SimpleNamespace

import pytest
import torch

from lib import plan
from lib.config import DiffusionConfig
from lib.errors import ConfigError

GB = 1e9
MAC_16GB = 10.7e9  # Metal's recommended working set on a 16 GB Mac (public measurements, TOOLCHAIN.md)
MPS, CUDA, CPU = torch.device("mps"), torch.device("cuda"), torch.device("cpu")
FLUX = DiffusionConfig("flux-schnell", "a cat")  # GGUF Q4_K_S, staged
SD3 = DiffusionConfig("sd3-medium", "a cat")


@pytest.fixture
def mac(monkeypatch):
    """A Mac whose Metal working set is `mac(bytes)` (torch.mps raises off a Mac, so it is patched)."""
    def set_memory(recommended: float = MAC_16GB) -> torch.device:
        monkeypatch.setattr(torch.mps, "recommended_max_memory", lambda: int(recommended))
        return MPS
    return set_memory


def test_t5_keeps_wo_in_fp32_under_fp16_but_not_under_bf16(tmp_path):
    """transformers 5.23 applies T5's `_keep_in_fp32_modules = ["wo"]` for float16 only; the plan counts the same."""
    from transformers import T5Config, T5EncoderModel

    config = dict(vocab_size=64, d_model=16, d_kv=4, d_ff=48, num_layers=3, num_heads=4, feed_forward_proj="gated-gelu")
    T5EncoderModel(T5Config(**config)).save_pretrained(tmp_path)
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        model = T5EncoderModel.from_pretrained(tmp_path, dtype=dtype)
        params = list(model.parameters())
        wo_dtypes = {p.dtype for n, p in model.named_parameters() if ".wo." in n}
        assert wo_dtypes == {torch.float32 if dtype == torch.float16 else dtype}
        measured = sum(p.numel() * p.element_size() for p in params)
        assert plan.weight_bytes("T5EncoderModel", config, sum(p.numel() for p in params), dtype) == measured


def test_t5_xxl_is_11_5_gb_in_fp16_and_9_5_gb_in_bf16():
    from lib.architectures.specs import T5_XXL
    from lib.mac_memory import parameters

    t5 = parameters()["t5_xxl"]
    assert plan.t5_fp32_weights(T5_XXL) == 24 * 10240 * 4096
    assert round(plan.weight_bytes("T5EncoderModel", T5_XXL, t5, torch.float16) / GB, 1) == 11.5
    assert round(plan.weight_bytes("T5EncoderModel", T5_XXL, t5, torch.bfloat16) / GB, 2) == 9.52


def test_stage_sizes_come_from_parameter_counts_and_the_gguf_file():
    from lib.mac_memory import parameters

    p = parameters()
    text, denoise, vae = plan.stage_bytes(FLUX, torch.bfloat16)
    assert denoise == 6.78 * GB and vae == 2 * p["vae_16ch"]  # the GGUF file stays quantized in memory
    assert text > 2 * p["t5_xxl"]  # CLIP-L and T5 in bf16
    sd3_text, sd3_denoise, sd3_vae = plan.stage_bytes(SD3.with_(drop_t5=True), torch.float16)
    assert sd3_text == 2 * (p["clip_l"] + p["clip_g"])
    assert sd3_denoise == 2 * p["sd3_transformer"] and sd3_vae == 2 * p["vae_16ch"]


def test_staged_peak_is_the_largest_stage_unstaged_the_sum_cached_text_the_denoiser():
    text, denoise, vae = plan.stage_bytes(FLUX, "bfloat16")
    peak = lambda staged, cached: plan.planned_peak_bytes(FLUX, torch.bfloat16, staged, cached) - plan.OVERHEAD_BYTES
    assert text > denoise > vae > 0
    assert peak(True, False) == text
    assert peak(False, False) == text + denoise + vae
    assert peak(True, True) == denoise  # the VAE loads only after the transformer is freed
    assert peak(False, True) == text + denoise + vae  # unstaged loads every component, cached embeddings or not


def test_flux_q4_k_s_on_a_16gb_mac_staged_is_close_and_unstaged_is_refused(mac):
    device = mac(MAC_16GB)
    warning = plan.check_memory(FLUX, device, torch.bfloat16)
    assert warning is not None and "may swap or fail" in warning
    assert "about 10.3 GB" in warning and "96% of Metal's recommended working set (10.7 GB)" in warning
    with pytest.raises(ConfigError) as err:
        plan.check_memory(FLUX.with_(staged=False), device, torch.bfloat16)
    msg = str(err.value)
    assert "needs about 17.2 GB" in msg and "Metal's recommended working set is 10.7 GB" in msg
    assert "what would fit: staged execution, the default (leave out --unstaged), about 10.3 GB" in msg
    assert plan.check_memory(FLUX, device, torch.bfloat16, text_cached=True) is None  # 7.4 GB: comfortable


def test_sd3_with_t5_in_fp16_on_a_16gb_mac_is_refused_and_dropping_t5_is_offered(mac):
    with pytest.raises(ConfigError, match=r"needs about 13.7 GB .* what would fit: drop T5 \(--drop-t5\), about 4.6 GB"):
        plan.check_memory(SD3, mac(MAC_16GB), torch.float16)
    assert plan.check_memory(SD3.with_(drop_t5=True), mac(MAC_16GB), torch.float16) is None


def test_a_gguf_too_big_for_the_mac_is_refused_with_the_largest_that_fits(mac):
    with pytest.raises(ConfigError, match=r"GGUF Q8_0.* what would fit: a smaller GGUF \(--quantization Q6_K\)"):
        plan.check_memory(FLUX.with_(quantization="Q8_0"), mac(MAC_16GB), torch.bfloat16)


def test_a_roomy_mac_fits(mac):
    assert plan.check_memory(FLUX.with_(staged=False), mac(26.8e9), torch.bfloat16) is None  # 17.2 of 26.8 GB


def test_cuda_is_checked_against_the_gpus_memory(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(total_memory=24 * 10**9))
    with pytest.raises(ConfigError, match=r"bfloat16, staged\) needs about 24.3 GB .* the GPU's memory is 24.0 GB; "
                                          r"what would fit: a GGUF transformer \(--quantization Q8_0\)"):
        plan.check_memory(FLUX.with_(quantization="none"), CUDA, torch.bfloat16)
    assert plan.check_memory(FLUX, CUDA, torch.bfloat16) is None


def test_cpu_is_checked_against_the_available_ram(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=64 * 10**9))
    assert plan.check_memory(FLUX, CPU, torch.float32) is None  # fp32 T5 (19 GB) in 64 GB
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=8 * 10**9))
    with pytest.raises(ConfigError, match="the available RAM is 8.0 GB; no setting this book offers fits"):
        plan.check_memory(FLUX, CPU, torch.float32)


def test_miniature_configs_always_fit_without_counting_anything(mac, monkeypatch):
    import lib.architectures.params as params

    monkeypatch.setattr(params, "model_params", lambda *a: pytest.fail("a miniature needs no parameter count"))
    tiny = DiffusionConfig("flux-schnell", "a cat", miniature=True)
    assert plan.check_memory(tiny, mac(1), torch.float32) is None
    assert plan.check_memory(DiffusionConfig("sd3-medium", "a cat", miniature=True), CPU, torch.float32) is None
    assert plan.planned_peak_bytes(tiny, torch.float32, staged=False, text_cached=False) == plan.OVERHEAD_BYTES


def test_memory_of_a_mac_is_read_only_on_a_mac(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=5))
    assert plan.available_memory(CPU) == (5, "the available RAM")  # torch.mps is not touched off a Mac
    with pytest.raises(RuntimeError):  # the CPU build's torch.mps raises: why every probe is guarded by device type
        plan.available_memory(MPS)
