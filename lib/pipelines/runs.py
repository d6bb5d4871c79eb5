"""Named sets of generations (one record each): what `compare`, `benchmark` and `precompute` run.

A set groups its items by what must be loaded, loads each group once, generates (staged or not), and
stores every image as soon as it exists, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from lib.config import DiffusionConfig
from lib.memory import empty_cache
from lib.pipelines.grid import comparison_grid, side_by_side
from lib.pipelines.loading import LOAD_FIELDS, load_pipeline
from lib.pipelines.stages import GenerationResult, generate_many
from lib.prompts import BENCHMARK_PROMPTS, prompt_by_id
from lib.records import RecordWriter

SWEEP_PROMPT = "spatial"
SD3_GUIDANCE_SWEEP = (1.0, 3.0, 5.0, 7.0, 9.0)
SD3_STEP_SWEEP = (4, 8, 16, 28)
BENCHMARK_STEPS = (1, 2, 4, 8)
FLUX_QUANTIZATIONS = ("none", "F16", "Q8_0", "Q6_K", "Q5_K_S", "Q4_K_S", "Q4_0")


@dataclass
class RunSet:
    """One named set of generations: record name, description, and (item id, config, extra fields) items."""

    name: str
    description: str
    items: list[tuple[str, DiffusionConfig, dict[str, Any]]] = field(default_factory=list)


def item_record(result: GenerationResult, item_id: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of one generated image in a record."""
    c = result.config
    return {"id": item_id, "model": c.model, "prompt": c.prompt, "seed": c.seed, "config": c.to_dict(),
            "device": result.device, "dtype": result.dtype, "seconds": result.seconds,
            "peak_bytes": result.peak_bytes, "stages": [asdict(s) for s in result.stages], **extra}


def run_set(run: RunSet, out: Path, source: str, paths: object | None = None, device: str | None = None,
            tick: Callable[[], None] | None = None) -> RecordWriter:
    """Generate every pending item of `run` into its record under `out`; finished items are skipped."""
    writer = RecordWriter(out, run.name, run.description, source, device or "cpu")
    groups: dict[tuple, list[tuple[str, DiffusionConfig, dict[str, Any]]]] = {}
    for item in run.items:
        key = tuple(getattr(item[1], f) for f in LOAD_FIELDS) + (item[1].staged,)
        groups.setdefault(key, []).append(item)
    for items in groups.values():
        pending = [i for i in items if not writer.done(i[0])]
        for _ in range(len(items) - len(pending)):
            if tick:
                tick()
        if not pending:
            continue
        loaded = load_pipeline(pending[0][1], paths, device)
        writer.data["device"]["device"] = loaded.device.type
        by_config = {id(c): (item_id, extra) for item_id, c, extra in pending}

        def store(result: GenerationResult) -> None:
            item_id, extra = by_config[id(result.config)]
            writer.add(item_record(result, item_id, extra), result.image)
            if tick:
                tick()

        generate_many(loaded, [c for _, c, _ in pending], on_result=store)
        device_used = loaded.device
        del loaded
        empty_cache(device_used)  # one model at a time: free this one before the next loads
    return writer


def _cfg(model: str, prompt_id: str, miniature: bool, seed: int, **kw: Any) -> DiffusionConfig:
    return DiffusionConfig(model, prompt_by_id(prompt_id).prompt, seed=seed, miniature=miniature, **kw)


def _bank(model: str, miniature: bool, seed: int, prefix: str = "", **kw: Any) -> list:
    return [(prefix + p.id, _cfg(model, p.id, miniature, seed, **kw), {"prompt_id": p.id, "category": p.category})
            for p in BENCHMARK_PROMPTS]


def compare_set(miniature: bool, seed: int = 42) -> RunSet:
    """Both models on the five prompts with one seed (chapter 6)."""
    return RunSet("compare", "SD3 Medium and FLUX.1-schnell (GGUF Q4_K_S) on the prompt bank, same seed",
                  _bank("sd3-medium", miniature, seed, "sd3-") + _bank("flux-schnell", miniature, seed, "flux-"))


def benchmark_set(miniature: bool, seed: int = 42, steps: tuple[int, ...] = BENCHMARK_STEPS) -> RunSet:
    """Both models at several step counts on one prompt: time and memory per stage."""
    items = [(f"{m}-{n}", _cfg(m, SWEEP_PROMPT, miniature, seed, steps=n), {"steps": n})
             for m in ("sd3-medium", "flux-schnell") for n in steps]
    return RunSet("benchmark", f"both models at steps {', '.join(map(str, steps))}", items)


def precompute_sets(miniature: bool, seed: int = 42) -> list[RunSet]:
    """Every set chapters 4-6 read (see precomputed/README.md)."""
    sd3, flux, p = "sd3-medium", "flux-schnell", SWEEP_PROMPT
    return [
        RunSet("sd3-prompts-t5", "SD3 Medium with T5 on the prompt bank", _bank(sd3, miniature, seed)),
        RunSet("sd3-prompts-drop-t5", "SD3 Medium without T5 (CLIP only) on the prompt bank",
               _bank(sd3, miniature, seed, drop_t5=True)),
        RunSet("sd3-staged-vs-unstaged", "SD3 Medium staged (text encoders freed before denoising) vs unstaged",
               [(m, _cfg(sd3, p, miniature, seed, staged=m == "staged"), {}) for m in ("staged", "unstaged")]),
        RunSet("sd3-guidance-sweep", "SD3 Medium at several guidance scales, one prompt and seed",
               [(f"g{g:g}", _cfg(sd3, p, miniature, seed, guidance=g), {"guidance": g}) for g in SD3_GUIDANCE_SWEEP]),
        RunSet("sd3-step-sweep", "SD3 Medium at several step counts, one prompt and seed",
               [(f"s{n}", _cfg(sd3, p, miniature, seed, steps=n), {"steps": n}) for n in SD3_STEP_SWEEP]),
        RunSet("flux-prompts", "FLUX.1-schnell, GGUF Q4_K_S transformer, on the prompt bank", _bank(flux, miniature, seed)),
        RunSet("flux-step-sweep", "FLUX.1-schnell at 1, 2, 4 and 8 steps, one prompt and seed",
               [(f"s{n}", _cfg(flux, p, miniature, seed, steps=n), {"steps": n}) for n in BENCHMARK_STEPS]),
        RunSet("flux-staged-vs-unstaged", "FLUX.1-schnell staged vs unstaged",
               [(m, _cfg(flux, p, miniature, seed, staged=m == "staged"), {}) for m in ("staged", "unstaged")]),
        RunSet("flux-quantizations", "FLUX.1-schnell with each transformer format, one prompt and seed",
               [(q, _cfg(flux, p, miniature, seed, quantization=q), {"quantization": q}) for q in FLUX_QUANTIZATIONS]),
        compare_set(miniature, seed),
        benchmark_set(miniature, seed),
    ]


def finish_set(writer: RecordWriter, miniature: bool) -> dict[str, Any]:
    """Add what a set's record holds beyond its images (compare: the PNG grids; benchmark: its table),
    then mark it complete. The CLI and the chapters' live mode both end a set here."""
    if writer.name == "compare":
        write_comparison(writer, miniature)
    if writer.name == "benchmark":
        writer.set_table("benchmark", benchmark_rows(writer.data))
    return writer.finish()


def write_comparison(writer: RecordWriter, miniature: bool) -> Image.Image:
    """Per-prompt side-by-side PNGs and comparison_grid.png from a compare record's images."""
    tag = " (miniature)" if miniature else ""
    titles = (f"SD3 Medium{tag}", f"FLUX.1-schnell{tag}")
    note = "miniature models: random weights, not real outputs" if miniature else "same prompts, same seed"
    rows = []
    for p in BENCHMARK_PROMPTS:
        left, right = (Image.open(writer.folder / f"{m}-{p.id}.png") for m in ("sd3", "flux"))
        writer.add_file(f"side-{p.id}", f"side-{p.id}.png", side_by_side(left, right, titles, p.category))
        rows.append((p.category, left, right))
    grid = comparison_grid(rows, titles, note)
    writer.add_file("comparison_grid", "comparison_grid.png", grid)
    return grid


def benchmark_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (model, steps): seconds per stage, total, and peak memory."""
    rows = []
    for item in record["items"]:
        stages = {s["name"]: s for s in item["stages"]}
        rows.append({"model": item["model"], "steps": item["config"]["steps"],
                     **{f"{n}_s": stages[n]["seconds"] for n in stages},
                     "total_s": item["seconds"], "peak_mb": item["peak_bytes"] / 2**20})
    return rows


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
