"""Where a shown result came from: a caption line for every record, and the notice miniature records carry.

Chapters 4-6 show images, times and memory read from records (`lib.records`). Each figure's caption
ends with `caption(record)`: the device, the library versions, the date and the record's `source`.
A record made by the random-weight miniature models is also announced by `notice(record)`, a warning
box, because its images are noise-like and its times are those of a network a thousand times smaller.
"""

from __future__ import annotations

import html
from typing import Any, Iterable

from lib.records import Record

SOURCE_TEXT = {
    "weights": "the real model weights",
    "random-weights-full-size": "full-size models with random weights (times and memory are real, images are noise)",
    "miniature": "random-weight miniature models (same architecture, tiny sizes)",
}


def _gib(n: Any) -> str:
    return f"{n / 2**30:.0f} GiB" if isinstance(n, (int, float)) and n else "memory unknown"


def device_text(device: dict[str, Any]) -> str:
    """'Apple M2 (mps), 16 GiB' or 'NVIDIA H100 (cuda), 80 GiB': chip or GPU, device type, memory."""
    if device.get("gpu"):
        return f"{device['gpu']} ({device.get('device', 'cuda')}), {_gib(device.get('gpu_memory_bytes'))}"
    chip = device.get("chip") or device.get("platform") or "unknown chip"
    return f"{chip} ({device.get('device', 'cpu')}), {_gib(device.get('memory_bytes'))} RAM"


def versions_text(versions: dict[str, Any]) -> str:
    """'torch 2.13.0, diffusers 0.42.1, ...' for the libraries that shape a result."""
    keys = ("python", "torch", "diffusers", "transformers", "gguf")
    return ", ".join(f"{k} {versions[k]}" for k in keys if versions.get(k))


def caption(record: Record) -> str:
    """One line of provenance for a figure or table caption (every machine, when several made the items)."""
    machines = "; ".join(device_text(d) for d in record.devices) or "no items"
    return (f"Record {record.name}, source: {record.source} ({SOURCE_TEXT.get(record.source, '?')}); "
            f"{machines}; {versions_text(record.versions)}; {record.created[:10]}.")


def is_miniature(record: Record) -> bool:
    """True for records whose images are not those of a trained model."""
    return record.source != "weights"


def notice_text(records: Iterable[Record]) -> str | None:
    """The warning for a set of records shown together, or None when all come from the real weights."""
    sources = sorted({r.source for r in records if is_miniature(r)})
    if not sources:
        return None
    what = "; ".join(f"`{s}`: {SOURCE_TEXT.get(s, s)}" for s in sources)
    scale = ("the times and memory are those of networks far smaller than the real ones"
             if "miniature" in sources else "only the times and memory tell something about the real models")
    return (f"The images, times and memory figures below come from records with source {what}. "
            f"Their weights are random: the images are noise-like and say nothing about the quality of the "
            f"real models, and {scale}. "
            "They show what the code does and what a record holds; run the chapter with the real weights "
            "(`python -m lib precompute` on your machine) to see the models themselves.")


class Notice:
    """A warning box (the theme's admonition markup) that renders in the book and in Jupyter."""

    def __init__(self, text: str | None, title: str = "Random-weight miniature models, not real output"):
        self.text, self.title = text, title

    def _md_inline(self, text: str) -> str:
        parts = html.escape(text).split("`")
        return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))

    def _repr_html_(self) -> str:
        if not self.text:
            return "<div class='dme-provenance'></div>"
        return (f"<div class='admonition warning dme-notice'><p class='admonition-title'>{html.escape(self.title)}</p>"
                f"<p>{self._md_inline(self.text)}</p></div>")

    def __repr__(self) -> str:
        return f"{self.title}: {self.text}" if self.text else ""


def notice(records: Record | Iterable[Record]) -> Notice:
    """The notice to display above what `records` show (empty when all come from the real weights)."""
    recs = [records] if isinstance(records, Record) else list(records)
    return Notice(notice_text(recs))
