"""Which device runs the models, in which dtype, and the MPS settings that must precede torch's MPS start.

Import this module before torch touches MPS (lib.pipelines does): PyTorch reads
PYTORCH_ENABLE_MPS_FALLBACK when it registers its MPS kernels and the watermark ratio when the MPS
allocator starts, so setting them later has no effect.
"""

from __future__ import annotations

import os
import platform
import sys

from lib.errors import DeviceError

# Only on Apple Silicon, only if the user has not chosen otherwise (setdefault), only before torch loads.
MPS_ENVIRONMENT = {
    "PYTORCH_ENABLE_MPS_FALLBACK": "1",  # ops without an MPS kernel run on the CPU instead of raising
    "PYTORCH_MPS_HIGH_WATERMARK_RATIO": "0.0",  # lift the allocator cap (~1.7x the Metal working set) for 16 GB Macs
}


def configure_mps_environment() -> bool:
    """Set the MPS variables on Apple Silicon if torch is not yet imported; True when they are in effect."""
    if sys.platform != "darwin" or platform.machine() != "arm64":
        return False
    if "torch" in sys.modules:
        return all(k in os.environ for k in MPS_ENVIRONMENT)  # too late to change; report what is set
    for key, value in MPS_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    return True


MPS_ENVIRONMENT_APPLIED = configure_mps_environment()

import torch  # noqa: E402  (after the environment above, on purpose)


def macos_version() -> tuple[int, ...]:
    """(major, minor) of macOS, or () elsewhere."""
    release = platform.mac_ver()[0]
    return tuple(int(x) for x in release.split(".") if x.isdigit()) if release else ()


def pick_device(requested: str | None = None) -> torch.device:
    """MPS if present, else CUDA, else CPU; a requested device that is missing raises DeviceError."""
    available = {
        "mps": torch.backends.mps.is_available(),
        "cuda": torch.cuda.is_available(),
        "cpu": True,
    }
    if requested in (None, "auto"):
        return torch.device(next(name for name in ("mps", "cuda", "cpu") if available[name]))
    if requested not in available:
        raise DeviceError(f"unknown device {requested!r}; allowed: auto, mps, cuda, cpu")
    if not available[requested]:
        have = ", ".join(k for k, v in available.items() if v)
        raise DeviceError(f"device {requested!r} is not available on this machine; available: {have}")
    return torch.device(requested)


def mps_supports_bf16() -> bool:
    """bf16 on MPS needs macOS 14+ and torch 2.3+ (it is emulated, hence slower, on M1/M2)."""
    torch_version = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
    return macos_version() >= (14,) and torch_version >= (2, 3)


def pick_dtype(device: torch.device, family: str, requested: str = "auto") -> torch.dtype:
    """The compute dtype for a model family on a device: fp32 on CPU, never fp16 for FLUX."""
    if requested != "auto":
        dtype = getattr(torch, requested)
        if dtype == torch.float16 and family == "flux":
            raise DeviceError("FLUX overflows float16 (NaN / black images); use bfloat16 or float32")
        if dtype == torch.bfloat16 and device.type == "mps" and not mps_supports_bf16():
            raise DeviceError("bfloat16 on MPS needs macOS 14 or later and torch >= 2.3; use float32 or upgrade macOS")
        return dtype
    if device.type == "cpu":
        return torch.float32  # CPU half-precision kernels are slow or missing
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if family == "sd3" else torch.float32
    # MPS: SD3 runs in fp16 natively; FLUX needs bf16 (fp16 overflows), or fp32 on older macOS.
    if family == "sd3":
        return torch.float16
    return torch.bfloat16 if mps_supports_bf16() else torch.float32


def offload_allowed(device: torch.device) -> bool:
    """diffusers' CPU offload moves weights to an accelerator per stage; on a CPU-only machine it raises."""
    return device.type in ("cuda", "mps")
