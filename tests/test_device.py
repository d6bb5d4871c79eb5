"""Device and dtype choice with availability patched; memory probes that work on the CPU build."""

import pytest
import torch

from lib import device as dev
from lib.errors import DeviceError
from lib.memory import PeakMemory, current_bytes, empty_cache, module_bytes, process_peak_rss


def _patch(monkeypatch, mps=False, cuda=False, bf16=True, macos="14.5"):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(dev.platform, "mac_ver", lambda: (macos, ("", "", ""), "arm64"))


@pytest.mark.parametrize("mps, cuda, expected", [(True, True, "mps"), (False, True, "cuda"), (False, False, "cpu")])
def test_device_preference_is_mps_then_cuda_then_cpu(monkeypatch, mps, cuda, expected):
    _patch(monkeypatch, mps=mps, cuda=cuda)
    assert dev.pick_device().type == expected


def test_a_requested_missing_device_raises_device_error(monkeypatch):
    _patch(monkeypatch)
    with pytest.raises(DeviceError, match="available: cpu"):
        dev.pick_device("mps")


@pytest.mark.parametrize(
    "device, family, macos, bf16, expected",
    [
        ("cpu", "flux", "", True, torch.float32),
        ("cpu", "sd3", "", True, torch.float32),
        ("mps", "flux", "14.5", True, torch.bfloat16),
        ("mps", "flux", "13.6", True, torch.float32),  # no bf16 before macOS 14, and never fp16 for FLUX
        ("mps", "sd3", "13.6", True, torch.float16),
        ("cuda", "flux", "", True, torch.bfloat16),
        ("cuda", "flux", "", False, torch.float32),
        ("cuda", "sd3", "", False, torch.float16),
    ],
)
def test_dtype_rules_per_device_and_model(monkeypatch, device, family, macos, bf16, expected):
    _patch(monkeypatch, bf16=bf16, macos=macos)
    assert dev.pick_dtype(torch.device(device), family) == expected


def test_explicit_dtypes_that_cannot_work_raise(monkeypatch):
    _patch(monkeypatch, macos="13.6")
    with pytest.raises(DeviceError, match="macOS 14"):
        dev.pick_dtype(torch.device("mps"), "sd3", "bfloat16")
    with pytest.raises(DeviceError, match="float16"):
        dev.pick_dtype(torch.device("cpu"), "flux", "float16")


def test_offload_only_where_an_accelerator_exists():
    assert not dev.offload_allowed(torch.device("cpu"))
    assert dev.offload_allowed(torch.device("mps")) and dev.offload_allowed(torch.device("cuda"))


def test_mps_environment_is_only_touched_on_apple_silicon(monkeypatch):
    monkeypatch.setattr(dev.sys, "platform", "linux")
    assert dev.configure_mps_environment() is False


def test_memory_probes_are_safe_on_the_cpu_build():
    cpu = torch.device("cpu")
    empty_cache(cpu)
    assert current_bytes(cpu) > 0 and process_peak_rss() >= current_bytes(cpu) // 2
    before = current_bytes(cpu)
    with PeakMemory(cpu) as peak:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB, touched
        block += 1
    assert peak.peak_bytes - before >= 60 * 1024 * 1024
    assert module_bytes(torch.nn.Linear(10, 10), None) == (100 + 10) * 4
