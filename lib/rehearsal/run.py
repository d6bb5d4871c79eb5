"""The full-size rehearsal: the library's real code path on full-size random weights, one fresh process per run.

Each configuration (`configurations`) is one record (`lib.pipelines.runs.run_set`) made in its own
subprocess, so the peak resident memory it reports is that run's alone; the subprocess sees only the throwaway cache
(`HF_HOME`/`HF_HUB_CACHE`, `HF_HUB_OFFLINE=1`), and the prompt-embedding cache is off except where a
configuration rehearses it: the staged run fills a fresh folder, its "-cached" twin runs on it warm.
Before each run its planned memory (`lib.plan`) is checked against this machine's available RAM (without
swap a run that does not fit would be killed): one that would not fit is skipped and reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.rehearsal.configurations import (BY_NAME, CONFIGURATIONS, DESCRIPTION, DTYPE, SIZE, STEPS, Configuration,
                                          diffusion_config)

PRECOMPUTED = Path(__file__).resolve().parents[2] / "precomputed" / "random-weights-full-size"
DEFAULT_ROOT = Path.home() / ".cache" / "dme" / "rehearsal"  # HF_HOME of the throwaway cache; hub/ inside


def default_root(scale: str = "full") -> Path:
    """The throwaway HF_HOME: ~/.cache/dme/rehearsal (tiny scale: rehearsal-tiny, never the full build's)."""
    return DEFAULT_ROOT if scale == "full" else DEFAULT_ROOT.with_name(f"rehearsal-{scale}")


def default_out() -> Path:
    """precomputed/random-weights-full-size/<this machine's folder>."""
    from lib.machine import device_info, machine_folder

    return PRECOMPUTED / machine_folder(device_info("cpu"))


def child_env(root: Path, conf: Configuration) -> dict[str, str]:
    """The environment of a configuration's process: only the throwaway cache, offline, its embedding cache."""
    env = dict(os.environ)
    env.update(HF_HOME=str(root), HF_HUB_CACHE=str(root / "hub"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               DME_EMBEDDING_CACHE=str(root / "embeddings" / conf.cache_folder) if conf.cache_folder else "off")
    return env


# ------------------------------------------------------------------------------------------- memory check

def check_fits(conf: Configuration) -> tuple[str | None, int]:
    """(why it would not fit, or None; the planned peak in bytes) for a configuration on this machine.

    lib.plan decides: `check_memory` raises ConfigError for a run that would not fit the available RAM and
    returns a warning for one that is close (printed here)."""
    import torch

    from lib.errors import ConfigError
    from lib.plan import check_memory, planned_peak_bytes

    config, warm = diffusion_config(conf), conf.embeddings == "warm"
    planned = planned_peak_bytes(config, DTYPE, conf.staged, warm)
    try:
        warning = check_memory(config, torch.device("cpu"), torch.bfloat16, text_cached=warm)
    except ConfigError as err:
        return str(err), planned
    if warning:
        print(f"{conf.name}: {warning}", flush=True)
    return None, planned


# ------------------------------------------------------------------------------------------- one run

def run_child(name: str, out: Path, overwrite: bool = False) -> int:
    """Make one configuration's record in this process (the subprocess side of `rehearse`)."""
    from lib.pipelines.runs import RunItem, RunSet, run_set
    from lib.registry import PRESETS

    conf = BY_NAME[name]
    config = diffusion_config(conf)
    title = PRESETS[conf.model].title
    description = DESCRIPTION.format(title=title, how=conf.how, size=SIZE, steps=STEPS)
    item = RunItem(name.removeprefix("rehearsal-"), config, {"rehearsal": name, "embeddings": conf.embeddings})
    run = RunSet(name, description, [item], use_cache=conf.embeddings != "off")  # the folder: child_env
    record = run_set(run, out, device="cpu", overwrite=overwrite)
    if record.source != "random-weights-full-size":
        print(f"{name}: the record's source is {record.source!r}, not 'random-weights-full-size': lib.weights did "
              "not recognise the DME_RANDOM_WEIGHTS marker", file=sys.stderr)
        return 1
    return 0


def record_done(conf: Configuration, out: Path, commit: str) -> bool:
    """True when `out` holds this configuration's complete record made from this build with this library."""
    from lib import __version__
    from lib.errors import RecordError
    from lib.records import load_record

    try:
        record = load_record(out / conf.name)
    except (RecordError, OSError):
        return False
    if len(record.items) != 1:
        return False
    item = record.items[0]
    return (item["config"] == diffusion_config(conf).to_dict() and record.source == "random-weights-full-size"
            and item["made"]["versions"].get("lib") == __version__ and commit in item["made"].get("build", ""))


def _spawn(conf: Configuration, root: Path, out: Path, overwrite: bool) -> tuple[int, float]:
    """Run one configuration in a fresh process; (exit code, wall seconds with start-up and imports)."""
    cmd = [sys.executable, "-m", "lib.rehearsal.run", "--child", conf.name, "--out", str(out)]
    if overwrite:
        cmd.append("--overwrite")
    start = time.perf_counter()
    # No whole-process peak from rusage: lib.memory resets the kernel's peak-RSS mark at every stage, and
    # ru_maxrss reads that same mark. The stages' and loads' peaks cover the run.
    code = subprocess.run(cmd, env=child_env(root, conf), cwd=Path(__file__).resolve().parents[2]).returncode
    return code, time.perf_counter() - start


# ------------------------------------------------------------------------------------------- summary

def stage_rows(record_folder: Path) -> list[dict[str, Any]]:
    """Loads and stages of a record's item in the order they ran (`lib.chapters.rehearsal.steps`, which the book
    shows): name, seconds, peak GB, weights GB; the record is validated on the way."""
    from lib.chapters.rehearsal import steps
    from lib.records import load_record

    return [{"stage": s["step"], "seconds": s["seconds"], "peak_gb": s["peak (GB)"], "weights_gb": s["weights (GB)"]}
            for s in steps(load_record(record_folder))]


def format_summary(results: list[dict[str, Any]]) -> str:
    """The table configuration x stage x seconds x peak GB x weights GB."""
    lines = [f"{'configuration':32} {'stage':28} {'seconds':>8} {'peak GB':>8} {'weights GB':>10}"]
    for r in results:
        if r.get("skipped") or r.get("failed"):
            what = f"SKIPPED: {r['skipped']}" if r.get("skipped") else f"FAILED: {r['failed']}"
            lines.append(f"{r['name']:32} {what}")
            continue
        for row in r["rows"]:
            lines.append(f"{r['name']:32} {row['stage']:28} {row['seconds']:8.1f} {row['peak_gb']:8.2f} "
                         f"{row['weights_gb']:10.2f}")
        if r.get("process_seconds") is not None:  # seconds with start-up; peak: the highest stage or load
            lines.append(f"{r['name']:32} {'(whole process)':28} {r['process_seconds']:8.1f} "
                         f"{max(row['peak_gb'] for row in r['rows']):8.2f}")
        if r.get("planned_bytes") is not None:
            lines.append(f"{r['name']:32} {'(planned peak)':28} {'':>8} {r['planned_bytes'] / 1e9:8.2f}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- the verb

def _select(only: list[str] | None) -> list[Configuration]:
    if not only:
        return list(CONFIGURATIONS)
    names = [n if n.startswith("rehearsal-") else f"rehearsal-{n}" for n in only]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        from lib.errors import ConfigError

        raise ConfigError(f"unknown configuration(s) {', '.join(unknown)}; known: "
                          f"{', '.join(c.name.removeprefix('rehearsal-') for c in CONFIGURATIONS)}")
    return [BY_NAME[n] for n in names]


def _warm_up(conf: Configuration, root: Path, overwrite: bool) -> None:
    """Fill a warm configuration's embedding cache when its staged twin was reused and the folder is empty."""
    folder = root / "embeddings" / conf.cache_folder
    if any(folder.glob("*.safetensors")):
        return
    twin = next(c for c in CONFIGURATIONS if c.cache_folder == conf.cache_folder and c.embeddings == "fill")
    print(f"{conf.name}: filling the embedding cache with a run of {twin.name} (not recorded)", flush=True)
    _spawn(twin, root, root / "warm-up", overwrite=True)  # not a record of ours: written in the cache


def rehearse(root: Path, out: Path, only: list[str] | None = None, build_only: bool = False,
             overwrite: bool = False, scale: str = "full", rerun: bool = False) -> list[dict[str, Any]]:
    """Build (or reuse) the snapshots under `root`, then run each selected configuration; returns the results.

    A configuration whose record in `out` is complete and made from this build is reused, unless `rerun`
    (its record is then deleted first); `overwrite` replaces a record made with other settings."""
    from lib.rehearsal.snapshots import write_all

    start = time.perf_counter()
    confs = _select(only)
    print(f"snapshots in {root / 'hub'} ...", flush=True)
    built = write_all(root / "hub", scale, log=lambda m: print(m, flush=True))
    print(f"snapshots ready in {built.seconds:.0f} s", flush=True)
    results: list[dict[str, Any]] = [{"name": "(build snapshots)", "rows": [
        {"stage": "write or reuse", "seconds": built.seconds, "peak_gb": 0.0, "weights_gb": 0.0}]}]
    if build_only:
        return results
    for conf in confs:
        commit = (built.flux if conf.model == "flux-schnell" else built.sd3).name
        reason, planned = check_fits(conf)
        result: dict[str, Any] = {"name": conf.name, "planned_bytes": planned}
        if rerun and (out / conf.name / "record.json").is_file():
            shutil.rmtree(out / conf.name)
        if record_done(conf, out, commit):
            print(f"{conf.name}: reusing its record", flush=True)
        else:
            if reason:
                print(f"{conf.name}: SKIPPED, it would not fit: {reason}", flush=True)
                results.append({**result, "skipped": reason})
                continue
            if conf.embeddings == "fill":
                shutil.rmtree(root / "embeddings" / conf.cache_folder, ignore_errors=True)
            if conf.embeddings == "warm":
                _warm_up(conf, root, overwrite)
            print(f"{conf.name}: running ...", flush=True)
            code, seconds = _spawn(conf, root, out, overwrite)
            result["process_seconds"] = seconds
            if code != 0:
                why = "killed (out of memory?)" if code == -9 else f"exit code {code}"
                print(f"{conf.name}: FAILED, {why}", flush=True)
                results.append({**result, "failed": why})
                continue
        result["rows"] = stage_rows(out / conf.name)
        results.append(result)
    total = time.perf_counter() - start
    print("\n" + format_summary(results))
    print(f"\ntotal {total / 60:.1f} min (budget 40 min); records in {out}")
    from lib.chapters.rehearsal import budget_lines, rehearsal_records

    print("\nmemory budgets (process peak):\n  " + "\n  ".join(budget_lines(rehearsal_records(out))))
    summary = root / "summary.json"
    summary.write_text(json.dumps({"total_seconds": total, "out": str(out), "results": results}, indent=1))
    return results


def build_parser() -> argparse.ArgumentParser:
    """`rehearse`'s options."""
    p = argparse.ArgumentParser(prog="python -m lib rehearse", description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="only these configurations: "
                   + ", ".join(c.name.removeprefix("rehearsal-") for c in CONFIGURATIONS))
    p.add_argument("--build-only", action="store_true", help="write (or reuse) the snapshots, run nothing")
    p.add_argument("--out", type=Path, help="folder for the records (default: precomputed/random-weights-full-size/"
                   "<this machine>)")
    p.add_argument("--cache", type=Path,
                   help=f"throwaway HF_HOME for the random snapshots (~23 GB; default: {DEFAULT_ROOT})")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a record made with other settings instead of refusing (as `precompute` does)")
    p.add_argument("--rerun", action="store_true",
                   help="delete the selected configurations' records and run them again")
    p.add_argument("--scale", choices=("full", "tiny"), default="full",
                   help="tiny: the miniature's widths, for a quick check of the machinery (default: %(default)s)")
    p.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one configuration in this process
    return p


def main(argv: list[str] | None = None) -> int:
    """`python -m lib rehearse [...]`: 0 done, 2 bad input, 1 a configuration failed."""
    from lib.errors import DMEError

    args = build_parser().parse_args(argv)
    root = (args.cache or default_root(args.scale)).expanduser()
    # Records of a tiny-scale check never go into precomputed/.
    out = args.out or (default_out() if args.scale == "full" else root / "records")
    try:
        if args.child:
            return run_child(args.child, out, args.overwrite)
        results = rehearse(root, out, args.only, args.build_only, args.overwrite, args.scale, args.rerun)
    except DMEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 1 if any(r.get("failed") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
