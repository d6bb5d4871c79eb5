"""The machine and software a run used: chip or GPU, memory, library versions, and a folder name for them.

Every image in a record carries this, as made (`lib.records`). The device is the one the pipeline was
actually loaded on (a `torch.device` from `lib.device.pick_device`), so a CUDA run names its GPU and a
Mac run its chip, never the CPU of whoever re-runs the command later.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# Libraries whose versions shape a result (numerics, loaders, quantized kernels).
LIBRARIES = ("torch", "diffusers", "transformers", "gguf", "accelerate", "huggingface_hub")


def _sysctl(key: str) -> str | None:
    try:
        return subprocess.run(["sysctl", "-n", key], capture_output=True, text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_name() -> str:
    if sys.platform == "darwin":
        return _sysctl("machdep.cpu.brand_string") or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int:
    if sys.platform == "darwin":
        mem = _sysctl("hw.memsize")
        if mem and mem.isdigit():
            return int(mem)
    import psutil

    return int(psutil.virtual_memory().total)


def device_info(device: Any = "cpu") -> dict[str, Any]:
    """The machine behind `device` (a torch.device or its type name): chip, memory, and the GPU for CUDA."""
    kind = getattr(device, "type", None) or str(device).split(":")[0]
    info: dict[str, Any] = {"device": kind, "chip": _cpu_name(), "memory_bytes": _memory_bytes(),
                            "cpu_count": os.cpu_count(), "platform": platform.platform()}
    if kind == "cuda":
        import torch

        index = getattr(device, "index", None) or 0
        info["gpu"] = torch.cuda.get_device_name(index)
        info["gpu_memory_bytes"] = int(torch.cuda.get_device_properties(index).total_memory)
    return info


def versions() -> dict[str, str | None]:
    """Versions of Python, this library and the libraries that shape the results."""
    from lib import __version__

    out: dict[str, str | None] = {"python": platform.python_version(), "lib": __version__}
    for pkg in LIBRARIES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git(root: Path, *args: str) -> str | None:
    """The output of `git -C root args...`; None when git is missing, fails or takes over 30 s."""
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def source_commit(root: Path | None = None) -> str | None:
    """The git commit of this library's checkout, with "+changes" when lib/ differs from it; None outside git."""
    root = root or Path(__file__).resolve().parents[1]
    head = (git(root, "rev-parse", "HEAD") or "").strip()
    if not re.fullmatch(r"[0-9a-f]{40}", head):
        return None
    return head + ("+changes" if (git(root, "status", "--porcelain", "--", "lib") or "").strip() else "")


def slug(text: str) -> str:
    """Lower-case words joined by dashes: a safe folder name."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def machine_folder(info: dict[str, Any]) -> str:
    """A folder name for the machine of `device_info`, e.g. `apple-m2-16gb` or `nvidia-h100-80gb-hbm3-80gb`.

    The GPU and its memory for CUDA; the chip and unified/system memory otherwise."""
    if info.get("gpu"):
        return f"{slug(info['gpu'])}-{round(info.get('gpu_memory_bytes', 0) / 2**30)}gb"
    return f"{slug(info.get('chip') or 'unknown')}-{round(info.get('memory_bytes', 0) / 2**30)}gb"
