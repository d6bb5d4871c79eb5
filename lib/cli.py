"""`python -m lib generate|compare|benchmark|precompute`: the library from the command line.

Exit codes: 0 done, 2 bad input (a one-line message on stderr, no traceback), 1 runtime failure.
`--miniature` runs the random-weight miniature models offline (lib.miniature).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from lib.errors import DMEError

PRECOMPUTED = Path(__file__).resolve().parents[1] / "precomputed"


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="flux-schnell", help="sd3-medium or flux-schnell (default: %(default)s)")
    p.add_argument("--prompt", required=True, help="what the image shows")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's preset)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (flux-schnell: 0 only)")
    p.add_argument("--height", type=int, help="pixels, a multiple of 16")
    p.add_argument("--width", type=int, help="pixels, a multiple of 16")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (never for FLUX)")
    p.add_argument("--quantization", help="flux-schnell transformer: none, Q8_0, Q6_K, Q5_K_S, Q4_K_S, Q4_0, F16")
    p.add_argument("--offload", default="none", help="none, model or sequential (needs CUDA or MPS)")
    p.add_argument("--drop-t5", action="store_true", help="sd3-medium: run without the T5 text encoder")
    p.add_argument("--max-sequence-length", type=int, help="T5 tokens")
    p.add_argument("--unstaged", action="store_true", help="keep the text encoders loaded while denoising")
    p.add_argument("--snapshot", type=Path, help="local diffusers snapshot folder instead of the HF cache")
    p.add_argument("--gguf", type=Path, help="local GGUF transformer file (flux-schnell)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--miniature", action="store_true", help="use the miniature random-weight models (offline)")
    p.add_argument("--device", default=None, help="auto (default), mps, cuda or cpu")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four verbs."""
    parser = argparse.ArgumentParser(prog="python -m lib", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    g = verbs.add_parser("generate", help="one image to a file")
    _model_options(g)
    _common(g)
    g.add_argument("--output", type=Path, default=Path("image.png"), help="PNG file to write")
    c = verbs.add_parser("compare", help="both models over the prompt bank, side-by-side PNGs and a grid")
    _common(c)
    c.add_argument("--seed", type=int, default=42)
    c.add_argument("--out", type=Path, default=Path("comparison"), help="folder for the record and PNGs")
    b = verbs.add_parser("benchmark", help="time and memory per stage, both models, steps 1/2/4/8")
    _common(b)
    b.add_argument("--out", type=Path, default=Path("benchmark"), help="folder for the record")
    b.add_argument("--steps", type=int, nargs="+", default=[1, 2, 4, 8])
    pc = verbs.add_parser("precompute", help="every record chapters 4-6 read, into precomputed/")
    _common(pc)
    pc.add_argument("--out", type=Path, help="folder for the records (default: precomputed/miniature with "
                    "--miniature, else precomputed/weights/<this machine>)")
    pc.add_argument("--only", nargs="+", metavar="NAME", help="only these records (default: all)")
    return parser


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="image", file=sys.stderr, leave=False)


def cmd_generate(a: argparse.Namespace) -> None:
    from lib.config import DiffusionConfig
    from lib.pipelines import generate, load_pipeline
    from lib.weights import from_local

    config = DiffusionConfig(a.model, a.prompt, steps=a.steps, guidance=a.guidance, height=a.height, width=a.width,
                             seed=a.seed, dtype=a.dtype, quantization=a.quantization, offload=a.offload,
                             drop_t5=a.drop_t5, max_sequence_length=a.max_sequence_length, staged=not a.unstaged,
                             miniature=a.miniature)
    paths = from_local(config, a.snapshot, a.gguf) if a.snapshot else None
    with _progress(1, config.model) as bar:
        result = generate(load_pipeline(config, paths, a.device), config)
        bar.update()
    a.output.parent.mkdir(parents=True, exist_ok=True)
    result.image.save(a.output)
    tag = " (miniature model: random weights)" if result.source == "miniature" else ""
    print(f"wrote {a.output}{tag}")
    for s in result.stages:
        print(f"  {s.name:<14} {s.seconds:8.3f} s  peak {s.peak_bytes / 2**20:9.1f} MiB")


def _run_sets(sets, out: Path, a: argparse.Namespace):
    from lib.pipelines.runs import run_set

    source = "miniature" if a.miniature else "weights"
    writers = []
    with _progress(sum(len(s.items) for s in sets), "images") as bar:
        for s in sets:
            bar.set_description(s.name)
            writers.append(run_set(s, out, source, None, a.device, bar.update))
    return writers


def cmd_compare(a: argparse.Namespace) -> None:
    from lib.pipelines.runs import compare_set, finish_set

    (writer,) = _run_sets([compare_set(a.miniature, a.seed)], a.out, a)
    finish_set(writer, a.miniature)
    print(f"wrote {writer.folder / 'comparison_grid.png'} and {len(writer.data['files']) - 1} side-by-side PNGs")


def cmd_benchmark(a: argparse.Namespace) -> None:
    from lib.pipelines.runs import benchmark_set, finish_set, format_table

    (writer,) = _run_sets([benchmark_set(a.miniature, steps=tuple(a.steps))], a.out, a)
    rows = finish_set(writer, a.miniature)["tables"]["benchmark"]
    print(("miniature models (random weights)\n" if a.miniature else "") + format_table(rows))


def cmd_precompute(a: argparse.Namespace) -> None:
    from lib.errors import ConfigError
    from lib.pipelines.runs import finish_set, precompute_sets
    from lib.records import default_output_dir

    sets = precompute_sets(a.miniature)
    if a.only:
        unknown = sorted(set(a.only) - {s.name for s in sets})
        if unknown:
            raise ConfigError(f"unknown record {', '.join(unknown)}; known: {', '.join(s.name for s in sets)}")
        sets = [s for s in sets if s.name in a.only]
    out = a.out or default_output_dir(PRECOMPUTED, "miniature" if a.miniature else "weights", a.device or "cpu")
    writers = _run_sets(sets, out, a)
    for w in writers:
        finish_set(w, a.miniature)
    print(f"wrote {len(writers)} records to {out}")


def single_thread_for_miniatures() -> None:
    """Miniature matrices are too small to gain from intra-op threads, and on shared cores the extra
    threads spin and wait: measured here, 1 thread ran a 64x64 FLUX image ~10x faster than 2 under load."""
    import torch

    torch.set_num_threads(1)


COMMANDS = {"generate": cmd_generate, "compare": cmd_compare, "benchmark": cmd_benchmark, "precompute": cmd_precompute}


def main(argv: list[str] | None = None) -> int:
    """Run one verb; return the exit code."""
    args = build_parser().parse_args(argv)  # argparse itself exits 2 on malformed options
    if args.miniature:
        single_thread_for_miniatures()
    try:
        COMMANDS[args.verb](args)
    except DMEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 1
    except Exception as err:  # a bug or a failure of the machine, not of the input
        if os.environ.get("DME_DEBUG"):
            traceback.print_exc()
        print(f"failed: {type(err).__name__}: {err} (set DME_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0
