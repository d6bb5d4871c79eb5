"""Teaching models of chapters 1-3: noise schedules, samplers, flow matching, toy data, tiny denoisers.

Everything here runs on a CPU in seconds. Chapter 1 (diffusion fundamentals) uses `schedules`,
`samplers`, `models`, `train`, `data`, `metrics`; chapter 3 (flow matching) adds `flow`.
"""

from __future__ import annotations

import torch

# One thread: these models are tiny, so a second thread buys little and, on a CPU shared with other
# processes, makes timings erratic (threads spin while waiting for each other).
NUM_THREADS = 1


def setup(threads: int = NUM_THREADS) -> None:
    """Fix the thread count the chapters train with, so their run time is predictable."""
    torch.set_num_threads(threads)
