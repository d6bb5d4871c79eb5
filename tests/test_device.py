"""Device, dtype, offload and MPS environment rules with availability patched; memory probes that work on the CPU build.

MPS cannot run here: each MPS path is exercised with `torch.backends.mps.is_available`, the macOS version, the
torch version or `sys.platform` patched, and the environment that must precede `import torch` in a subprocess.
"""

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

from lib import device as dev
from lib.errors import ConfigError, DeviceError
from lib.memory import PeakMemory, current_bytes, empty_cache, module_bytes, process_peak_rss

ROOT = Path(__file__).resolve().parents[1]
MPS_VARIABLES = ("PYTORCH_ENABLE_MPS_FALLBACK", "PYTORCH_MPS_HIGH_WATERMARK_RATIO", "DME_MPS_FALLBACK")


def _patch(monkeypatch, mps=False, cuda=False, bf16=True, macos="14.5", mps_bf16=True):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(dev.platform, "mac_ver", lambda: (macos, ("", "", ""), "arm64"))
    monkeypatch.setattr(dev, "_mps_makes_bf16", lambda: mps_bf16)  # the tensor probe, which needs a real MPS
    for name in MPS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


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


# bf16 on MPS: proved by making a tensor, once per process; macOS 14 is only the first filter.

@pytest.fixture
def fresh_bf16_probe():
    dev._mps_makes_bf16.cache_clear()
    yield
    dev._mps_makes_bf16.cache_clear()


def test_bf16_on_mps_is_proved_by_making_a_bf16_tensor_once(monkeypatch, fresh_bf16_probe):
    calls = []

    def ones(*args, **kwargs):
        calls.append(kwargs)
        return torch.zeros(1)

    monkeypatch.setattr(dev.platform, "mac_ver", lambda: ("14.5", ("", "", ""), "arm64"))
    monkeypatch.setattr(torch, "ones", ones)
    assert dev.mps_supports_bf16() and dev.mps_supports_bf16()
    assert calls == [{"dtype": torch.bfloat16, "device": "mps"}]  # cached after the first probe


def test_bf16_on_mps_is_refused_when_the_tensor_cannot_be_made_even_on_macos_14(monkeypatch, fresh_bf16_probe):
    def ones(*args, **kwargs):
        raise TypeError("BFloat16 is not supported on MPS")

    monkeypatch.setattr(dev.platform, "mac_ver", lambda: ("14.0", ("", "", ""), "arm64"))
    monkeypatch.setattr(torch, "ones", ones)
    assert not dev.mps_supports_bf16()
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dev.pick_dtype(torch.device("mps"), "flux") == torch.float32
    with pytest.raises(DeviceError, match="making a bfloat16 tensor there failed"):
        dev.pick_dtype(torch.device("mps"), "flux", "bfloat16")


def test_bf16_probe_is_skipped_before_macos_14(monkeypatch, fresh_bf16_probe):
    monkeypatch.setattr(dev.platform, "mac_ver", lambda: ("13.6", ("", "", ""), "arm64"))
    monkeypatch.setattr(torch, "ones", lambda *a, **k: pytest.fail("probed on macOS 13"))
    assert not dev.mps_supports_bf16()


def test_the_real_bf16_probe_says_no_on_a_build_without_mps(fresh_bf16_probe):
    assert dev._mps_makes_bf16() is False  # torch.ones(device="mps") raises NotImplementedError here


# Offload: refused with the reason where it cannot work or cannot help.

@pytest.mark.parametrize("offload, device, gguf, reason", [
    ("model", "cpu", False, "this run is on the CPU alone"),
    ("sequential", "cpu", True, "this run is on the CPU alone"),
    ("model", "mps", True, "unified memory"),
    ("sequential", "mps", False, "unified memory"),
    ("sequential", "cuda", True, "KeyError: None; diffusers issue #14691, fix in PR #14698"),
])
def test_offload_that_cannot_work_or_help_is_refused_with_its_reason(offload, device, gguf, reason):
    with pytest.raises(DeviceError, match=reason.replace("(", r"\(").replace(")", r"\)")) as err:
        dev.check_offload(offload, torch.device(device), gguf)
    assert "use offload" in str(err.value)


@pytest.mark.parametrize("offload, device, gguf", [
    ("none", "cpu", True), ("none", "mps", True), ("model", "cuda", True), ("sequential", "cuda", False),
    ("model", "cuda", False),
])
def test_offload_that_works_passes(offload, device, gguf):
    assert dev.check_offload(offload, torch.device(device), gguf) is None


def test_an_unknown_offload_is_a_config_error():
    with pytest.raises(ConfigError, match="none, model, sequential"):
        dev.check_offload("disk", torch.device("cuda"), False)


# torch >= 2.6 on MPS: in requirements.txt for macOS, and at run time.

@pytest.mark.parametrize("version, expected", [("2.5.1", (2, 5)), ("2.13.0+cpu", (2, 13)), ("2.6.0.dev20250101", (2, 6)),
                                               ("2.10.0a0+git1234", (2, 10))])
def test_torch_release_reads_major_and_minor(version, expected):
    assert dev.torch_release(version) == expected


@pytest.mark.parametrize("version", ["2.4.0", "2.4.1", "2.5.1"])
def test_mps_with_torch_older_than_2_6_is_refused_with_the_upgrade_command(monkeypatch, version):
    _patch(monkeypatch, mps=True)
    monkeypatch.setattr(torch, "__version__", version)
    with pytest.raises(DeviceError, match=r"pip install -U 'torch>=2.6'") as err:
        dev.pick_device()
    assert f"torch {version}" in str(err.value) and "green noise" in str(err.value)
    with pytest.raises(DeviceError, match="upgrade"):
        dev.pick_dtype(torch.device("mps"), "sd3")  # a device resolved elsewhere is checked too
    assert dev.pick_device("cpu").type == "cpu"  # the CPU is not affected
    monkeypatch.setattr(torch, "__version__", "2.6.0")
    assert dev.pick_device().type == "mps"


def _torch_requirements() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip().startswith("torch")]


@pytest.mark.parametrize("platform, allowed, refused", [
    ("darwin", ["2.6.0", "2.13.0"], ["2.4.1", "2.5.1"]),
    ("linux", ["2.4.0", "2.5.1", "2.13.0"], ["2.3.1"]),
    ("win32", ["2.4.0", "2.13.0"], ["2.3.1"]),
])
def test_requirements_ask_for_torch_2_6_on_macos_only(platform, allowed, refused):
    applying = [r for r in _torch_requirements() if r.marker is None or r.marker.evaluate({"sys_platform": platform})]
    assert len(applying) == 1, f"exactly one torch line must apply on {platform}"
    spec = applying[0].specifier
    assert all(spec.contains(v) for v in allowed) and not any(spec.contains(v) for v in refused)


# The MPS environment: nothing by default, the CPU fallback only on request, set before torch is imported.

def test_mps_environment_is_only_touched_on_apple_silicon(monkeypatch):
    monkeypatch.setattr(dev.sys, "platform", "linux")
    monkeypatch.setenv("DME_MPS_FALLBACK", "1")
    monkeypatch.delenv("PYTORCH_ENABLE_MPS_FALLBACK", raising=False)
    assert dev.configure_mps_environment() is False
    assert "PYTORCH_ENABLE_MPS_FALLBACK" not in os.environ


# Run in a fresh interpreter that pretends to be an Apple-Silicon Mac until torch is asked for: a finder on
# sys.meta_path records the environment at that moment and stops the import (torch itself is not needed).
_PROBE = """
import json, os, platform, sys
real = sys.platform, platform.machine
sys.platform, platform.machine = "darwin", lambda: "arm64"
seen = []
class StopTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            seen.append({k: os.environ.get(k) for k in %(names)r})
            raise ImportError("torch import stopped by the test")
sys.meta_path.insert(0, StopTorch())
import lib
sys.platform, platform.machine = real  # the Mac is needed only while `import lib` sets the environment
result = {"at_import_lib": {k: os.environ.get(k) for k in %(names)r}, "torch_loaded": "torch" in sys.modules,
          "fallback_on": lib.MPS_FALLBACK_ON}
for module in %(modules)r:
    try:
        __import__(module)
    except ImportError:
        pass
result["at_torch_import"] = seen
print(json.dumps(result))
"""


def _probe_mac(env: dict, modules=("lib.memory", "lib.architectures.params")) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in MPS_VARIABLES}
    code = _PROBE % {"names": MPS_VARIABLES[:2], "modules": list(modules)}
    out = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_by_default_a_mac_gets_no_fallback_and_no_lifted_memory_cap():
    seen = _probe_mac({})
    nothing = {"PYTORCH_ENABLE_MPS_FALLBACK": None, "PYTORCH_MPS_HIGH_WATERMARK_RATIO": None}
    assert seen["at_import_lib"] == nothing and seen["fallback_on"] is False
    assert seen["torch_loaded"] is False  # `import lib` stays light
    assert seen["at_torch_import"] == [nothing, nothing]


def test_dme_mps_fallback_turns_the_fallback_on_before_any_module_imports_torch():
    seen = _probe_mac({"DME_MPS_FALLBACK": "1"})
    assert seen["fallback_on"] is True
    assert [s["PYTORCH_ENABLE_MPS_FALLBACK"] for s in seen["at_torch_import"]] == ["1", "1"]
    assert all(s["PYTORCH_MPS_HIGH_WATERMARK_RATIO"] is None for s in seen["at_torch_import"])


def test_a_fallback_setting_of_the_users_own_is_kept():
    seen = _probe_mac({"DME_MPS_FALLBACK": "1", "PYTORCH_ENABLE_MPS_FALLBACK": "0"}, modules=())
    assert seen["at_import_lib"]["PYTORCH_ENABLE_MPS_FALLBACK"] == "0" and seen["fallback_on"] is False


def _warnings_of(run) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    return [str(w.message) for w in caught]


def test_a_run_on_mps_says_in_one_line_when_the_cpu_fallback_is_on(monkeypatch):
    _patch(monkeypatch, mps=True)
    assert _warnings_of(dev.pick_device) == []  # nothing set: nothing to say
    monkeypatch.setenv("PYTORCH_ENABLE_MPS_FALLBACK", "1")
    (message,) = _warnings_of(dev.pick_device)
    assert "run on the CPU" in message and "\n" not in message
    assert _warnings_of(lambda: dev.pick_device("cpu")) == []  # only runs on MPS


def test_a_run_on_mps_warns_about_a_lifted_memory_cap_and_a_late_fallback_request(monkeypatch):
    _patch(monkeypatch, mps=True)
    monkeypatch.setenv("PYTORCH_MPS_HIGH_WATERMARK_RATIO", "0.0")
    monkeypatch.setenv("DME_MPS_FALLBACK", "1")  # torch is already imported: too late
    late, uncapped = _warnings_of(dev.pick_device)
    assert "too late" in late and "may cause system failure" in uncapped


def test_a_missing_mps_kernel_error_says_how_to_enable_the_fallback():
    err = NotImplementedError("The operator 'aten::_foo' is not currently implemented for the MPS device. If you "
                              "want this op to be added...\nAs a temporary fix, set PYTORCH_ENABLE_MPS_FALLBACK=1")
    explained = dev.explain_mps_error(err)
    assert isinstance(explained, DeviceError)
    assert "aten::_foo" in str(explained) and "DME_MPS_FALLBACK=1" in str(explained) and "slower" in str(explained)
    assert dev.explain_mps_error(RuntimeError("shape mismatch")) is None
    assert dev.explain_mps_error(NotImplementedError("no CUDA kernel")) is None
