"""Which device runs the models, in which dtype and with which offload; and the MPS environment, set before torch loads.

PyTorch reads PYTORCH_ENABLE_MPS_FALLBACK once, when `import torch` registers its MPS kernels, so it must be
in the environment before torch's first import. `import lib` calls `configure_mps_environment()`
(lib/__init__.py), and Python runs that file before any `lib.*` module: no module of the package can import
torch first. This module therefore imports torch only inside its functions.

What we set, and why so little (public reports, see the book's *Running this book* page):
- nothing by default. Without the fallback, an operation that has no MPS kernel raises (`explain_mps_error`
  says how to enable the fallback) instead of running on the CPU unnoticed: a Q8_0-vs-K-quant 3x speed
  difference was traced to that silent fallback.
- `DME_MPS_FALLBACK=1` asks for PyTorch's CPU fallback (PYTORCH_ENABLE_MPS_FALLBACK=1); a run on MPS then
  starts with a one-line warning.
- never PYTORCH_MPS_HIGH_WATERMARK_RATIO=0.0: PyTorch documents 0.0 (no cap on the MPS allocator) as "may cause
  system failure". A user who sets it gets a warning when a run starts.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from functools import cache
from typing import TYPE_CHECKING

from lib.errors import ConfigError, DeviceError

if TYPE_CHECKING:
    import torch

FALLBACK_REQUEST_ENV = "DME_MPS_FALLBACK"  # ours: "1" turns PyTorch's CPU fallback on
TORCH_FALLBACK_ENV = "PYTORCH_ENABLE_MPS_FALLBACK"
WATERMARK_ENV = "PYTORCH_MPS_HIGH_WATERMARK_RATIO"
_ON = ("1", "true", "yes", "on")
# torch 2.4.0 gave noisy FLUX images on MPS (fixed in 2.4.1); 2.5.x computes uint8 `>>` wrongly on MPS (fixed in
# 2.6), and K-quant dequantization (lib.gguf, diffusers' GGUF) shifts uint8 blocks: green-noise images.
MPS_MIN_TORCH = (2, 6)


def apple_silicon() -> bool:
    """True on an Apple-Silicon Mac (the only place MPS exists)."""
    return sys.platform == "darwin" and platform.machine() == "arm64"


def mps_fallback_requested() -> bool:
    """True when DME_MPS_FALLBACK asks for PyTorch's CPU fallback of operations MPS lacks."""
    return os.environ.get(FALLBACK_REQUEST_ENV, "").strip().lower() in _ON


def mps_fallback_on() -> bool:
    """True when PYTORCH_ENABLE_MPS_FALLBACK is on (PyTorch enables it for any non-zero integer)."""
    try:
        return int(os.environ.get(TORCH_FALLBACK_ENV, "0").strip() or "0") != 0
    except ValueError:
        return False


def configure_mps_environment() -> bool:
    """On Apple Silicon and before torch is imported, turn on the CPU fallback only if DME_MPS_FALLBACK=1 asks for
    it; True when the fallback is on for this process. Called by `import lib`; imports nothing heavy."""
    if not apple_silicon():
        return False
    if mps_fallback_requested() and "torch" not in sys.modules:
        os.environ.setdefault(TORCH_FALLBACK_ENV, "1")  # a value the user set themselves wins
    return mps_fallback_on()


def torch_release(version: str) -> tuple[int, int]:
    """(major, minor) of a torch version string such as '2.5.1' or '2.6.0.dev20250101+cpu'."""
    parts = version.split("+")[0].split(".")
    return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()) or 0)


def require_mps_torch() -> None:
    """Refuse torch versions older than MPS_MIN_TORCH on MPS (known to compute wrong images there)."""
    import torch

    if torch_release(torch.__version__) < MPS_MIN_TORCH:
        need = ".".join(map(str, MPS_MIN_TORCH))
        raise DeviceError(
            f"torch {torch.__version__} is older than {need}, the first version known to give right images on MPS "
            "(2.4.0: noisy FLUX images; 2.5.x: wrong uint8 shifts in GGUF K-quant dequantization, green noise); "
            f"upgrade with: pip install -U 'torch>={need}' (or run on the CPU with --device cpu)")


def check_mps_run() -> None:
    """At the start of a run on MPS: refuse a torch that breaks images, and say in one line what the MPS
    environment changes (CPU fallback on, allocator cap lifted, or a fallback asked for too late)."""
    require_mps_torch()
    if mps_fallback_on():
        warnings.warn(f"{TORCH_FALLBACK_ENV} is on: operations without an MPS kernel run on the CPU, slower and "
                      f"unreported; unset {FALLBACK_REQUEST_ENV} (and {TORCH_FALLBACK_ENV}) to make them raise instead",
                      RuntimeWarning, stacklevel=3)
    elif mps_fallback_requested():
        warnings.warn(f"{FALLBACK_REQUEST_ENV}=1 came after torch was imported, too late for PyTorch to read it; "
                      "set it before starting Python (or before `import lib`)", RuntimeWarning, stacklevel=3)
    try:
        uncapped = float(os.environ.get(WATERMARK_ENV, "nan")) == 0.0
    except ValueError:
        uncapped = False
    if uncapped:
        warnings.warn(f"{WATERMARK_ENV}=0.0 removes the MPS allocator's cap, which PyTorch documents as 'may cause "
                      "system failure'; unset it to keep the default cap", RuntimeWarning, stacklevel=3)


def explain_mps_error(err: BaseException) -> DeviceError | None:
    """A DeviceError saying what to do when `err` is PyTorch's 'not implemented for the MPS device' error, else None.

    For the code that runs a pipeline: `except NotImplementedError as e: raise explain_mps_error(e) or e`."""
    text = str(err).strip()
    if not isinstance(err, NotImplementedError) or "MPS" not in text:
        return None
    import torch

    first = text.splitlines()[0]
    return DeviceError(f"an operation has no MPS kernel in torch {torch.__version__} ({first}); set "
                       f"{FALLBACK_REQUEST_ENV}=1 before starting Python to run such operations on the CPU (slower), "
                       "or run everything on the CPU with --device cpu")


def macos_version() -> tuple[int, ...]:
    """(major, minor) of macOS, or () elsewhere."""
    release = platform.mac_ver()[0]
    return tuple(int(x) for x in release.split(".") if x.isdigit()) if release else ()


def pick_device(requested: str | None = None) -> torch.device:
    """MPS if present, else CUDA, else CPU; a requested device that is missing raises DeviceError.
    A run on MPS is checked first (`check_mps_run`)."""
    import torch

    available = {
        "mps": torch.backends.mps.is_available(),
        "cuda": torch.cuda.is_available(),
        "cpu": True,
    }
    if requested in (None, "auto"):
        device = torch.device(next(name for name in ("mps", "cuda", "cpu") if available[name]))
    elif requested not in available:
        raise DeviceError(f"unknown device {requested!r}; allowed: auto, mps, cuda, cpu")
    elif not available[requested]:
        have = ", ".join(k for k, v in available.items() if v)
        raise DeviceError(f"device {requested!r} is not available on this machine; available: {have}")
    else:
        device = torch.device(requested)
    if device.type == "mps":
        check_mps_run()
    return device


@cache
def _mps_makes_bf16() -> bool:
    """Make a bfloat16 tensor on MPS: the proof that this Mac and this torch support it (once per process)."""
    import torch

    try:
        torch.ones(1, dtype=torch.bfloat16, device="mps")
    except (RuntimeError, TypeError):  # NotImplementedError is a RuntimeError
        return False
    return True


def mps_supports_bf16() -> bool:
    """bf16 on MPS: macOS 14+ as a cheap first filter, then a bfloat16 tensor made on the device (emulated, hence
    slower, on M1/M2)."""
    return macos_version() >= (14,) and _mps_makes_bf16()


def pick_dtype(device: torch.device, family: str, requested: str = "auto") -> torch.dtype:
    """The compute dtype for a model family on a device: fp32 on CPU, never fp16 for FLUX."""
    import torch

    if device.type == "mps":
        require_mps_torch()
    if requested != "auto":
        dtype = getattr(torch, requested)
        if dtype == torch.float16 and family == "flux":
            raise DeviceError("FLUX overflows float16 (NaN / black images); use bfloat16 or float32")
        if dtype == torch.bfloat16 and device.type == "mps" and not mps_supports_bf16():
            raise DeviceError("bfloat16 does not work on this Mac's MPS (it needs macOS 14 or later, and making a "
                              "bfloat16 tensor there failed); use float32, or upgrade macOS")
        return dtype
    if device.type == "cpu":
        return torch.float32  # CPU half-precision kernels are slow or missing
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float16 if family == "sd3" else torch.float32
    # MPS: SD3 runs in fp16 natively; FLUX needs bf16 (fp16 overflows), or fp32 where bf16 is missing.
    if family == "sd3":
        return torch.float16
    return torch.bfloat16 if mps_supports_bf16() else torch.float32


def check_offload(offload: str, device: torch.device, gguf: bool) -> None:
    """Refuse an offload mode that cannot work or cannot help here, with a DeviceError saying why and what to use."""
    from lib.config import OFFLOADS

    if offload not in OFFLOADS:
        raise ConfigError(f"unknown offload {offload!r}; allowed: {', '.join(OFFLOADS)}")
    if offload == "none":
        return
    if device.type == "cpu":
        raise DeviceError(f"offload {offload!r} moves weights between the CPU and an accelerator (CUDA or MPS), and "
                          "this run is on the CPU alone; use offload 'none' (staged execution, the default, already "
                          "frees the text encoders before denoising)")
    if device.type == "mps":
        raise DeviceError(f"offload {offload!r} saves nothing on Apple Silicon: the CPU and the GPU share one unified "
                          "memory, so moving weights 'to the CPU' keeps them in the same RAM; use offload 'none' with "
                          "staged execution (the default), which frees the text encoders instead of moving them")
    if offload == "sequential" and gguf:
        raise DeviceError("offload 'sequential' fails with a GGUF transformer (accelerate raises KeyError: None; "
                          "diffusers issue #14691, fix in PR #14698, open as of 2026-11); use offload 'model', or "
                          "quantization 'none'")
