"""Measurements made by others on Macs, which chapter 5 cites (their numbers live here once, with their source,
so the prose glues them instead of typing them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    """One public per-step timing of FLUX with two GGUF block types on the same Mac."""

    source: str  # BibTeX key in book/references.bib
    setup: str
    seconds_per_step: dict[str, float]  # block type -> seconds per sampling step, as printed in the report


# ComfyUI-GGUF issue 236 (2025-03-18): the same FLUX workflow on a MacBook (MPS), Q8_0 then Q4_0 files, with
# 304 quantized tensors each; ComfyUI's progress bar printed 26.85 s/it and 33.02 s/it.
COMFYUI_GGUF_236 = Report("comfyuigguf236", "FLUX in ComfyUI-GGUF on a MacBook (MPS)", {"Q8_0": 26.85, "Q4_0": 33.02})


def slower_factor(report: Report, a: str, b: str) -> float:
    """How many times longer a step took with block type `a` than with `b` in the report."""
    return report.seconds_per_step[a] / report.seconds_per_step[b]
