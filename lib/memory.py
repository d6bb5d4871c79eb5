"""Memory probes that are safe on every device, and a peak-memory tracker used around each stage.

CUDA: the allocator's own peak. MPS: the Metal driver's allocated memory, sampled (torch keeps no MPS
peak). CPU: the process resident set, sampled. `torch.mps.*` exists in CPU builds but raises when
called, so every probe is guarded by device type, never by hasattr.
"""

from __future__ import annotations

import gc
import resource
import sys
import threading
import time
from types import TracebackType

import psutil
import torch


def current_bytes(device: torch.device) -> int:
    """Memory in use now: CUDA allocator, MPS driver, or process RSS on CPU."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    if device.type == "mps":
        return int(torch.mps.driver_allocated_memory())
    return int(psutil.Process().memory_info().rss)


def process_peak_rss() -> int:
    """Lifetime peak resident set of this process in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def empty_cache(device: torch.device) -> None:
    """Collect garbage and hand cached blocks back to the device, so freed weights really leave memory."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def _reset_linux_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; Linux >= 4.0, else False."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5 = reset the peak resident set size (proc(5), clear_refs)
        return True
    except OSError:
        return False


def _linux_peak_rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """Context manager: `peak_bytes` = highest memory in use on `device` while the block ran.

    On Linux CPU the kernel keeps the peak (VmHWM, reset on entry), so no sampling thread competes with
    the computation; elsewhere without an allocator peak (MPS, macOS CPU) a thread samples every `interval` s."""

    def __init__(self, device: torch.device, interval: float = 0.005) -> None:
        self.device = device
        self.interval = interval
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, current_bytes(self.device))

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.peak_bytes = current_bytes(self.device)
        self._kernel_peak = self.device.type == "cpu" and sys.platform == "linux" and _reset_linux_peak_rss()
        if self.device.type != "cuda" and not self._kernel_peak:  # no peak kept for us: sample in a thread
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = max(self.peak_bytes, int(torch.cuda.max_memory_allocated(self.device)))
        elif self.device.type == "mps":
            torch.mps.synchronize()
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
        if self._kernel_peak:
            self.peak_bytes = max(self.peak_bytes, _linux_peak_rss())
        self.peak_bytes = max(self.peak_bytes, current_bytes(self.device))


class Stopwatch:
    """Context manager measuring wall seconds, synchronising the accelerator so queued work is counted."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        elif self.device.type == "mps":
            torch.mps.synchronize()

    def __enter__(self) -> "Stopwatch":
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self._start


def module_bytes(*modules: torch.nn.Module | None) -> int:
    """Bytes of parameters and buffers held by these modules (GGUF weights count at their packed size)."""
    seen: set[int] = set()
    total = 0
    for m in modules:
        if m is None:
            continue
        for t in list(m.parameters()) + list(m.buffers()):
            if id(t) not in seen:
                seen.add(id(t))
                total += t.numel() * t.element_size()
    return total
