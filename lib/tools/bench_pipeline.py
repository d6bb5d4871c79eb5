"""`python -m lib.tools.bench_pipeline`: the library's budgets on the miniature models, printed with the machine.

1. Overhead of `lib.pipelines.generate` over a plain diffusers call on the same loaded pipeline
   (budget <= 1.05x): repeats interleaved (library, plain, library, ...), medians compared, one run.
2. Wall time of `python -m lib precompute --miniature --random-weights` into a fresh folder (budget <= 120 s on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

OVERHEAD_BUDGET = 1.05
PRECOMPUTE_BUDGET_S = 120.0


def overhead(model: str, repeats: int) -> tuple[float, float, float]:
    """(median library s, median plain s, ratio) for one miniature model, unstaged, on one pipeline."""
    import torch

    from lib.config import DiffusionConfig
    from lib.miniature import ensure_miniatures
    from lib.pipelines import generate, load_pipeline

    c = DiffusionConfig(model, "a lighthouse on a rocky coast", miniature=True, staged=False)
    loaded = load_pipeline(c, ensure_miniatures())

    def plain() -> None:
        loaded.pipe(c.prompt, height=c.height, width=c.width, num_inference_steps=c.steps, guidance_scale=c.guidance,
                    generator=torch.Generator("cpu").manual_seed(c.seed), max_sequence_length=c.max_sequence_length)

    def ours() -> None:
        generate(loaded, c)

    times: dict[str, list[float]] = {"ours": [], "plain": []}
    ours(), plain()  # warm-up
    for _ in range(repeats):
        for name, fn in (("ours", ours), ("plain", plain)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    a, b = statistics.median(times["ours"]), statistics.median(times["plain"])
    return a, b, a / b


def precompute_seconds() -> float:
    """Wall seconds of a full `python -m lib precompute --miniature --random-weights` into a fresh folder (miniatures cached)."""
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "lib", "precompute", "--miniature", "--random-weights", "--out", out], check=True,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    """Print both budgets, the machine and the versions."""
    parser = argparse.ArgumentParser(prog="python -m lib.tools.bench_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--skip-precompute", action="store_true")
    args = parser.parse_args(argv)
    from lib.cli import single_thread_for_miniatures
    from lib.miniature import ensure_miniatures
    from lib.machine import device_info, versions

    single_thread_for_miniatures()
    ensure_miniatures()
    info = device_info("cpu")
    print(f"machine: {info['chip']}, {info['cpu_count']} cores, {info['memory_bytes'] / 2**30:.1f} GiB")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()))
    for model in ("sd3-medium", "flux-schnell"):
        a, b, ratio = overhead(model, args.repeats)
        verdict = "within" if ratio <= OVERHEAD_BUDGET else "OVER"
        print(f"overhead {model:<13} library {a * 1000:7.1f} ms, plain diffusers {b * 1000:7.1f} ms, "
              f"ratio {ratio:.3f} ({verdict} budget {OVERHEAD_BUDGET}; medians of {args.repeats} interleaved)")
    if not args.skip_precompute:
        s = precompute_seconds()
        verdict = "within" if s <= PRECOMPUTE_BUDGET_S else "OVER"
        print(f"precompute --miniature: {s:.1f} s ({verdict} budget {PRECOMPUTE_BUDGET_S:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
