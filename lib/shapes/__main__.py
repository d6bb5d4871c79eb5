"""`python -m lib.shapes validate [--n 1000] [--size 32]`: the scorer's validation table;
`python -m lib.shapes speed [--n 3000] [--size 32]`: images per second, sampled and rendered on one core."""

from __future__ import annotations

import argparse
import sys
import time


def _validate(n: int, size: int) -> int:
    from lib.shapes.validate import CONDITIONS, validation_table

    t0 = time.perf_counter()
    table = validation_table(n, size)
    print(f"Scorer validation on {n} scenes per category at {size}x{size} "
          f"({time.perf_counter() - t0:.0f} s): share judged right (n)")
    print("  clean: ground-truth renders; noise: Gaussian sigma 0.05; blur+noise: blur sigma 0.6 px, then noise;")
    print("  corrupted: one attribute broken (blurred and noisy too), right = the scorer says it is wrong\n")
    print(f"{'category':<12} {'attribute':<10}" + "".join(f"{c:>18}" for c in CONDITIONS))
    for (cat, attr), row in table.iterrows():
        cells = []
        for c in CONDITIONS:
            acc, m = row.get(("accuracy", c)), row.get(("n", c))
            cells.append(f"{'-':>18}" if m != m or m is None else f"{acc:>9.1%} ({int(m):>5})")
        print(f"{cat:<12} {attr:<10}" + "".join(cells))
    worst = table["accuracy"].min()
    print("\nlowest per condition: " + ", ".join(f"{c} {worst[c]:.1%}" for c in CONDITIONS if c in worst))
    return 0


def _speed(n: int, size: int) -> int:
    from lib.shapes.world import sample

    sample(0, size=size)
    t0, c0 = time.perf_counter(), time.process_time()
    for seed in range(n):
        sample(seed, size=size)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"{n} samples (scene + caption + {size}x{size} image): {n / cpu:.0f} images/s per CPU second, "
          f"{n / wall:.0f} images/s wall clock")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.shapes", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, default_n in (("validate", 1000), ("speed", 3000)):
        p = sub.add_parser(verb)
        p.add_argument("--n", type=int, default=default_n, help="samples (per category for validate)")
        p.add_argument("--size", type=int, default=32, help="image side in pixels, a multiple of 16")
    args = parser.parse_args(argv)
    from lib.errors import DMEError

    try:
        return (_validate if args.verb == "validate" else _speed)(args.n, args.size)
    except DMEError as err:  # a wrong size or name: one line, exit code 2, as `python -m lib` does
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
