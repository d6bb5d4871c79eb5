"""Small valid records for tests: items with the fields and provenance `lib.records` requires."""

from __future__ import annotations

from typing import Any

from PIL import Image

from lib.records import RecordWriter

MADE = {"created": "2026-11-01T00:00:00+00:00", "build": "test", "versions": {"lib": "0.1.0", "torch": "2.13.0",
                                                                                "diffusers": "0.42.1"},
        "device": {"device": "cpu", "chip": "Test CPU", "memory_bytes": 2**34}}


def make_item(item_id: str, source: str = "miniature", **fields: Any) -> dict[str, Any]:
    """A valid record item (its image is added by RecordWriter.add)."""
    stage = {"name": "denoising", "seconds": 0.1, "peak_bytes": 10, "weights_bytes": 5}
    item = {"id": item_id, "model": "flux-schnell", "prompt": "a cat", "seed": 42, "config": {"seed": 42, "steps": 4},
            "dtype": "float32", "seconds": 0.1, "peak_bytes": 10, "stages": [stage],
            "made": {**MADE, "source": source}}
    made = fields.pop("made", {})
    item.update(fields)
    item["made"] = {**item["made"], **made}
    return item


def write_record(root, name: str = "demo", source: str = "miniature", ids=("a", "b"), finish: bool = True, **fields):
    """A record of grey squares, one per id; finished unless finish=False."""
    w = RecordWriter(root, name, "grey squares", source)
    for i, item_id in enumerate(ids):
        w.add(make_item(item_id, source, **fields), Image.new("RGB", (8, 8), (i * 40,) * 3))
    return w.finish() if finish else w
