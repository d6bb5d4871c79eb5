"""Where a shown result came from, said once per page: a provenance table of every record a page reads, and
the warning miniature records carry.

Chapters 4-6 show images, times and memory read from records (`lib.records`). Each chapter lists the
records it reads in one collapsible note (`records_table` and `summary`, glued near the chapter's start);
captions name their record and what kind of models made it (`kind`). A record made by the random-weight
models is also announced by `notice(records)`, a warning box that stays visible, because its images are
noise-like and, for the miniature models, its times are those of a network a thousand times smaller.
"""

from __future__ import annotations

import html
from typing import Any, Iterable

from lib.records import Record

SOURCE_TEXT = {
    "weights": "the real model weights",
    "random-weights-full-size": "full-size architectures with random weights, run on a CPU (the memory is "
                                "evidence; the images are noise and the times are CPU times)",
    "miniature": "random-weight miniature models (same architecture, tiny sizes: the images are noise-like "
                 "and the times are those of a tiny network)",
    "trained-miniature": "trained miniatures (toy scale, shapes world): the same architectures, a few million "
                         "parameters, trained on this book's captioned world of shapes; their images follow their "
                         "prompts, their times are those of a tiny network",
}
SOURCE_SHORT = {"weights": "the real model weights",
                "random-weights-full-size": "full-size architectures with random weights, run on a CPU",
                "miniature": "random-weight miniature models: same architecture, tiny sizes",
                "trained-miniature": "trained miniature (toy scale, shapes world)"}
KIND = {"weights": "real weights", "random-weights-full-size": "full-size random weights, not real output",
        "miniature": "random-weight miniature models, not real output",
        "trained-miniature": "trained miniature (toy scale, shapes world), not the real model"}


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


def is_miniature(record: Record) -> bool:
    """True for records whose images are not those of a trained model."""
    return record.source != "weights"


def kind(record: Record) -> str:
    """What made a record, in a few words for a caption: 'real weights' or '... not real output'."""
    return KIND.get(record.source, record.source)


def records_table(records: Iterable[Record]) -> Any:
    """One row per record a page reads: what it holds, its source, machine(s), library versions and date."""
    import pandas as pd

    records = list(records)
    rows = [{"record": label, "source": r.source, "made": r.created[:10], "items": len(r.items),
             "what it holds": r.description,
             "machine": "; ".join(device_text(d) for d in r.devices) or "no items",
             "versions": versions_text(r.versions)}
            for r, label in zip(records, _labels(records))]
    return pd.DataFrame(rows).set_index("record")


def _labels(records: list[Record]) -> list[str]:
    """Record names, made unique for a table's index: a name two records share (e.g. the same set made by the
    random-weight and the trained miniature) gets its source, then its folder, added."""
    from collections import Counter

    names = Counter(r.name for r in records)
    labels = [r.name if names[r.name] == 1 else f"{r.name} ({r.source})" for r in records]
    again = Counter(labels)
    return [lab if again[lab] == 1 else f"{lab}, {r.folder.parent.name}" for lab, r in zip(labels, records)]


def shown_whole(df: Any, uuid: str) -> Any:
    """A table for the page with every cell in full (a DataFrame's own HTML cuts text at 50 characters),
    left-aligned, with a fixed id so the page does not change from build to build."""
    return (df.style.set_uuid(uuid).set_table_attributes('class="dataframe"')
            .set_properties(**{"text-align": "left"}))


def summary(records: Iterable[Record]) -> str:
    """A paragraph for the provenance note: how many records of each source, and what each source means."""
    recs = list(records)
    counts: dict[str, int] = {}
    for r in recs:
        counts[r.source] = counts.get(r.source, 0) + 1
    parts = [f"{n} from {SOURCE_TEXT.get(s, s)}" for s, n in sorted(counts.items())]
    text = f"This page reads {len(recs)} record{'s' * (len(recs) != 1)}: " + "; ".join(parts) + "."
    if any(r.source in ("miniature", "random-weights-full-size") for r in recs):
        text += (" Records with random weights show what the code does and how a record is laid "
                 "out; they say nothing about the quality or speed of the real models.")
    if any(r.source == "trained-miniature" for r in recs):
        text += (" Trained-miniature records show what the mechanisms do at toy scale, in a world where every "
                 "prompt's truth is known; they are not the real models' pictures, speed or memory.")
    if any(is_miniature(r) for r in recs):
        text += " Run `python -m lib precompute` on your machine to replace them with real-weights records."
    return text


def notice_text(records: Iterable[Record]) -> str | None:
    """The warning for a set of records shown together, or None when all come from the real weights."""
    sources = sorted({r.source for r in records if is_miniature(r)})
    if not sources:
        return None
    what = "; ".join(f"`{s}` ({SOURCE_SHORT.get(s, s)})" for s in sources)
    if sources == ["trained-miniature"]:
        return (f"The images, times and memory figures below come from records with source {what}: the real "
                "architecture at toy scale, trained on a CPU on a world of coloured shapes whose "
                "captions say exactly what each image holds. They show what the mechanisms do (guidance, "
                "dropping T5, step counts) and how well prompts are followed, measured; they are not the real "
                "models' pictures, and their times and memory are those of networks a thousand times smaller. "
                "Run the chapter with the real weights (`python -m lib precompute` on your machine) to see the "
                "models themselves. The provenance note below lists every record this page reads.")
    scale = ("the times and memory are those of networks far smaller than the real ones"
             if "miniature" in sources else "only the memory tells something about the real models")
    return (f"The images, times and memory figures below come from records with source {what}. "
            f"Their weights are random: the images are noise-like and say nothing about the quality of the "
            f"real models, and {scale}. "
            "They show what the code does and what a record holds; run the chapter with the real weights "
            "(`python -m lib precompute` on your machine) to see the models themselves. The provenance "
            "note below lists every record this page reads.")


class Notice:
    """A warning box (the theme's admonition markup) that renders in the book and in Jupyter."""

    def __init__(self, text: str | None, title: str = "Random-weight models, not real output"):
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
    """The notice to display above what `records` show (empty when all come from the real weights), titled by
    what the records are: trained miniatures are not random-weight models."""
    recs = [records] if isinstance(records, Record) else list(records)
    sources = {r.source for r in recs if is_miniature(r)}
    if sources == {"trained-miniature"}:
        return Notice(notice_text(recs), title="Trained miniatures, not the real models")
    return Notice(notice_text(recs))
