"""Named sets of generations (one record each): what `compare`, `benchmark` and `precompute` run.

A set groups its items by what must be loaded, loads each group once, generates (staged or not), and
stores every image as soon as it exists, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from lib.config import PRESETS, DiffusionConfig
from lib.gguf.rule import bits_per_weight
from lib.registry import block_type
from lib.errors import ConfigError
from lib.machine import device_info, versions
from lib.memory import empty_cache
from lib.pipelines.grid import comparison_grid, side_by_side
from lib.pipelines.loading import LOAD_FIELDS, load_pipeline, weights_build
from lib.pipelines.stages import GenerationResult, generate_many
from lib.prompts import BENCHMARK_PROMPTS, prompt_bank, prompt_by_id
from lib.records import Record, RecordWriter
from lib.weights import WeightPaths, resolve_weights

SWEEP_PROMPT = "spatial"
FLUX_GGUF = PRESETS["flux-schnell"].default_quantization
SD3_GUIDANCE_SWEEP = (1.0, 3.0, 5.0, 7.0, 9.0)
SD3_STEP_SWEEP = (4, 8, 16, 28)
BENCHMARK_STEPS = (1, 2, 4, 8)
# Every transformer format a config may ask for, unquantized first then from most to fewest bits (the
# registry's runnable files, sorted by bits per weight; F16 first among them).
FLUX_QUANTIZATIONS = ("none",) + tuple(sorted(PRESETS["flux-schnell"].runnable_gguf, key=lambda q: -bits_per_weight(
    block_type(q))))


@dataclass(frozen=True)
class RunItem:
    """One image of a set: its id in the record, the config that makes it, and fields the record shows beside it."""

    id: str
    config: DiffusionConfig
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunSet:
    """One named set of generations; `finish` adds what its record holds beyond the images (a grid, a table).

    `use_cache`: read prompt embeddings from the disk cache (lib.pipelines.embeddings). Off for the sets
    chapters 4-6 read, whose records measure the text encoders themselves."""

    name: str
    description: str
    items: list[RunItem] = field(default_factory=list)
    finish: Callable[[RecordWriter], None] | None = None
    use_cache: bool = False


def _planned(item: RunItem, weights: WeightPaths, device: Any) -> dict[str, Any]:
    from lib import __version__
    from lib.device import pick_dtype

    dtype = str(pick_dtype(device, item.config.spec.family, item.config.dtype)).replace("torch.", "")
    return {"id": item.id, "config": item.config.to_dict(), "extra": item.extra, "source": weights.source,
            "build": weights_build(weights), "lib": __version__, "dtype": dtype, "device": device.type}


def _stage_json(s) -> dict[str, Any]:
    out = asdict(s)
    if not out.pop("cached"):
        return out
    return {**out, "cached": True}


def item_record(item: RunItem, result: GenerationResult, made: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of one generated image: what was asked, what was measured, and where it was made."""
    c = result.config
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {"id": item.id, "model": c.model, "prompt": c.prompt, "seed": c.seed, "config": c.to_dict(),
            "dtype": result.dtype, "seconds": result.seconds, "peak_bytes": result.peak_bytes,
            "stages": [_stage_json(s) for s in result.stages], "loads": [_stage_json(s) for s in result.loads],
            **item.extra, "made": {**made, "created": now}}


def _groups(run: RunSet) -> list[list[RunItem]]:
    """Items grouped by what must be loaded for them, in order of first appearance."""
    groups: dict[tuple, list[RunItem]] = {}
    for item in run.items:
        key = tuple(getattr(item.config, f) for f in LOAD_FIELDS)
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def run_set(run: RunSet, out: Path, device: Any = None, paths: object | None = None, overwrite: bool = False,
            tick: Callable[[], None] | None = None) -> Record:
    """Make every pending image of `run` into its record under `out`, then finish the record and return it.

    Weights are resolved before anything loads, so the record knows its source and each item its full
    settings; items already stored with the same settings are skipped (resume), other settings are refused
    unless `overwrite`. Provenance (device, versions, build) is read from each loaded pipeline."""
    from lib.device import pick_device

    device = device if hasattr(device, "type") else pick_device(device)
    ids = [i.id for i in run.items]
    if not ids or len(set(ids)) < len(ids):
        raise ConfigError(f"set {run.name} has {'no items' if not ids else 'an item id twice'} (ids: "
                          f"{', '.join(ids) or 'none'}); give each image of a set its own id, e.g. one step count once")
    groups = [(g, resolve_weights(g[0].config, paths)) for g in _groups(run)]
    sources = {w.source for _, w in groups}
    if len(sources) > 1:
        raise ConfigError(f"set {run.name} mixes sources {sorted(sources)}; a record holds one source")
    writer = RecordWriter(out, run.name, run.description, sources.pop(), overwrite)
    pending = {p["id"] for p in writer.plan([_planned(i, w, device) for g, w in groups for i in g])}
    for _ in range(len(run.items) - len(pending)):
        if tick:
            tick()
    for group, weights in groups:
        to_make = [i for i in group if i.id in pending]
        if not to_make:
            continue
        loaded = load_pipeline(to_make[0].config, weights, device, use_cache=run.use_cache,
                               batch=[i.config for i in to_make])
        made = {"source": weights.source, "build": loaded.build, "device": device_info(loaded.device),
                "versions": versions()}

        def store(index: int, result: GenerationResult) -> None:
            writer.add(item_record(to_make[index], result, made), result.image)
            if tick:
                tick()

        generate_many(loaded, [i.config for i in to_make], on_result=store, use_cache=run.use_cache)
        del loaded
        empty_cache(device)  # one model at a time: free this one before the next loads
    if run.finish is not None:
        run.finish(writer)
    return writer.finish()


def _cfg(model: str, prompt_id: str, miniature: bool, seed: int, trained: bool = False, **kw: Any) -> DiffusionConfig:
    return DiffusionConfig(model, prompt_by_id(prompt_id, shapes=trained).prompt, seed=seed,
                           miniature=miniature or trained, trained=trained, **kw)


def _bank(model: str, miniature: bool, seed: int, prefix: str = "", trained: bool = False, **kw: Any) -> list[RunItem]:
    return [RunItem(prefix + p.id, _cfg(model, p.id, miniature, seed, trained, **kw),
                    {"prompt_id": p.id, "category": p.category}) for p in prompt_bank(shapes=trained)]


def write_comparison(writer: RecordWriter) -> Image.Image:
    """Per-prompt side-by-side PNGs and comparison_grid.png from a compare record's images."""
    miniature = writer.record.source != "weights"
    trained = writer.record.source == "trained-miniature"
    tag = " (trained miniature)" if trained else " (miniature)" if miniature else ""
    titles = (f"SD3 Medium{tag}", f"FLUX.1-schnell{tag}")
    note = ("trained miniatures: toy scale, shapes world, same seed" if trained else
            "miniature models: random weights, not real outputs" if miniature else "same prompts, same seed")
    rows = []
    for p in BENCHMARK_PROMPTS:
        left, right = (Image.open(writer.folder / f"{m}-{p.id}.png") for m in ("sd3", "flux"))
        writer.add_file(f"side-{p.id}", f"side-{p.id}.png", side_by_side(left, right, titles, p.category))
        rows.append((p.category, left, right))
    grid = comparison_grid(rows, titles, note)
    writer.add_file("comparison_grid", "comparison_grid.png", grid)
    return grid


def benchmark_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (model, steps): seconds per stage, total, and peak memory."""
    rows = []
    for item in items:
        stages = {s["name"]: s for s in item["stages"]}
        rows.append({"model": item["model"], "steps": item["config"]["steps"],
                     **{f"{n}_s": stages[n]["seconds"] for n in stages},
                     "total_s": item["seconds"], "peak_mb": item["peak_bytes"] / 2**20})
    return rows


def _write_benchmark_table(writer: RecordWriter) -> None:
    writer.set_table("benchmark", benchmark_rows(writer.record.items))


def compare_set(miniature: bool, seed: int = 42, trained: bool = False) -> RunSet:
    """Both models on the five prompts with one seed (chapter 6), with side-by-side PNGs and a grid."""
    bank = " (shapes world)" if trained else ""
    return RunSet("compare", f"SD3 Medium and FLUX.1-schnell (GGUF {FLUX_GGUF}) on the prompt bank{bank}, same seed",
                  _bank("sd3-medium", miniature, seed, "sd3-", trained)
                  + _bank("flux-schnell", miniature, seed, "flux-", trained), finish=write_comparison)


def benchmark_set(miniature: bool, seed: int = 42, steps: tuple[int, ...] | None = None,
                  trained: bool = False) -> RunSet:
    """Both models at several step counts (default BENCHMARK_STEPS) on one prompt: time and memory per stage,
    and their table."""
    steps = tuple(steps or BENCHMARK_STEPS)
    items = [RunItem(f"{m}-{n}", _cfg(m, SWEEP_PROMPT, miniature, seed, trained, steps=n), {"steps": n})
             for m in ("sd3-medium", "flux-schnell") for n in steps]
    return RunSet("benchmark", f"both models at steps {', '.join(map(str, steps))}", items,
                  finish=_write_benchmark_table)


def precompute_sets(miniature: bool, seed: int = 42, trained: bool = False) -> list[RunSet]:
    """Every set chapters 4-6 read (see precomputed/README.md); `trained`: the trained miniatures' on the
    shapes-world prompt bank."""
    sd3, flux, p = "sd3-medium", "flux-schnell", SWEEP_PROMPT
    bank = " (shapes world)" if trained else ""

    def cfg(model: str, **kw: Any) -> DiffusionConfig:
        return _cfg(model, p, miniature, seed, trained, **kw)

    def two(model: str) -> list[RunItem]:
        return [RunItem(m, cfg(model, staged=m == "staged")) for m in ("staged", "unstaged")]

    sd3_sets = [
        RunSet("sd3-prompts-t5", f"SD3 Medium with T5 on the prompt bank{bank}",
               _bank(sd3, miniature, seed, trained=trained)),
        RunSet("sd3-prompts-drop-t5", f"SD3 Medium without T5 (CLIP only) on the prompt bank{bank}",
               _bank(sd3, miniature, seed, trained=trained, drop_t5=True)),
        RunSet("sd3-staged-vs-unstaged", "SD3 Medium staged (text encoders freed before denoising) vs unstaged",
               two(sd3)),
        RunSet("sd3-guidance-sweep", "SD3 Medium at several guidance scales, one prompt and seed",
               [RunItem(f"g{g:g}", cfg(sd3, guidance=g), {"guidance": g}) for g in SD3_GUIDANCE_SWEEP]),
        RunSet("sd3-step-sweep", "SD3 Medium at several step counts, one prompt and seed",
               [RunItem(f"s{n}", cfg(sd3, steps=n), {"steps": n}) for n in SD3_STEP_SWEEP]),
    ]
    return sd3_sets + [
        RunSet("flux-prompts", f"FLUX.1-schnell, GGUF {FLUX_GGUF} transformer, on the prompt bank{bank}",
               _bank(flux, miniature, seed, trained=trained)),
        RunSet("flux-step-sweep", "FLUX.1-schnell at 1, 2, 4 and 8 steps, one prompt and seed",
               [RunItem(f"s{n}", cfg(flux, steps=n), {"steps": n}) for n in BENCHMARK_STEPS]),
        RunSet("flux-staged-vs-unstaged", "FLUX.1-schnell staged vs unstaged", two(flux)),
        RunSet("flux-quantizations", "FLUX.1-schnell with each transformer format, one prompt and seed",
               [RunItem(q, cfg(flux, quantization=q), {"quantization": q}) for q in FLUX_QUANTIZATIONS]),
        compare_set(miniature, seed, trained),
        benchmark_set(miniature, seed, trained=trained),
    ]


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of benchmark rows."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    width = {c: max(len(c), *(len(fmt(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.rjust(width[c]) for c in cols)]
    lines += ["  ".join(fmt(r[c]).rjust(width[c]) for c in cols) for r in rows]
    return "\n".join(lines)
