"""`python -m lib generate|compare|benchmark|precompute`: the library from the command line.

Exit codes: 0 done, 2 bad input (a one-line message on stderr, no traceback), 1 runtime failure, 130
interrupted. Every path and number is checked before any model loads. `--miniature` runs the random-weight
miniature models offline (lib.miniature).

Re-running compare, benchmark or precompute into the same folder resumes: images already stored with the
same settings are kept. A folder holding results of other settings (another seed, steps, model build or
library version) is refused with exit 2 unless `--overwrite` is given, so a record never mixes runs.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from lib.config import PRESETS
from lib.errors import ConfigError, DMEError

PRECOMPUTED = Path(__file__).resolve().parents[1] / "precomputed"


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="flux-schnell", help=f"{' or '.join(PRESETS)} (default: %(default)s)")
    p.add_argument("--prompt", required=True, help="what the image shows")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's preset)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale (flux-schnell: 0 only)")
    p.add_argument("--height", type=int, help="pixels, a multiple of 16")
    p.add_argument("--width", type=int, help="pixels, a multiple of 16")
    p.add_argument("--seed", type=int, default=42, help="0 <= seed < 2**64 (default: %(default)s)")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16 (never for FLUX)")
    flux = PRESETS["flux-schnell"]
    p.add_argument("--quantization", help=f"flux-schnell transformer: {', '.join(flux.quantizations)} "
                   f"(default: {flux.default_quantization})")
    p.add_argument("--offload", default="none", help="none, model or sequential (needs CUDA or MPS)")
    p.add_argument("--drop-t5", action="store_true", help="sd3-medium: run without the T5 text encoder")
    p.add_argument("--max-sequence-length", type=int, help="T5 tokens")
    p.add_argument("--unstaged", action="store_true", help="keep the text encoders loaded while denoising")
    p.add_argument("--snapshot", type=Path, help="local diffusers snapshot folder instead of the HF cache")
    p.add_argument("--gguf", type=Path, help="local GGUF transformer file (flux-schnell; needs --snapshot)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--miniature", action="store_true",
                   help="the miniature models (offline): the ones trained on the shapes world (precomputed/"
                        "trained-miniatures, 32x32 images that follow prompts such as 'a red circle above a blue "
                        "square'), or with --random-weights the random-weight ones the tests use")
    p.add_argument("--random-weights", action="store_true",
                   help="with --miniature: the random-weight miniatures (any size; their images are noise)")
    p.add_argument("--trained", action="store_true", help="with --miniature: the trained miniatures (the default)")
    p.add_argument("--device", default=None, help="auto (default), mps, cuda or cpu")


def _set_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace a record made with other settings instead of refusing (default: resume or refuse)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four verbs."""
    parser = argparse.ArgumentParser(prog="python -m lib", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    g = verbs.add_parser("generate", help="one image to a PNG file")
    _model_options(g)
    _common(g)
    g.add_argument("--output", type=Path, default=Path("image.png"), help="PNG file to write (default: %(default)s)")
    g.add_argument("--no-embedding-cache", action="store_true",
                   help="always run the text encoders (default: reuse prompt embeddings cached on disk; see "
                        "`python -m lib cache`)")
    c = verbs.add_parser("compare", help="both models over the prompt bank, side-by-side PNGs and a grid")
    _common(c)
    c.add_argument("--seed", type=int, default=42, help="0 <= seed < 2**64 (default: %(default)s)")
    c.add_argument("--out", type=Path, default=Path("comparison"), help="folder for the record and PNGs")
    _set_options(c)
    b = verbs.add_parser("benchmark", help="time and memory per stage, both models, steps 1/2/4/8")
    _common(b)
    b.add_argument("--out", type=Path, default=Path("benchmark"), help="folder for the record")
    b.add_argument("--steps", type=int, nargs="+", help="step counts to time (default: 1 2 4 8)")
    _set_options(b)
    pc = verbs.add_parser("precompute", help="every record chapters 4-6 read, into precomputed/")
    _common(pc)
    pc.add_argument("--out", type=Path, help="folder for the records (default: precomputed/trained-miniature "
                    "with --miniature, precomputed/miniature with --miniature --random-weights, else "
                    "precomputed/weights/<this machine>)")
    pc.add_argument("--only", nargs="+", metavar="NAME", help="only these records (default: all)")
    _set_options(pc)
    k = verbs.add_parser("cache", help="where the prompt-embedding cache is, how big, and how to clear it",
                         description="Staged runs keep each prompt's text embeddings on disk, so running the same "
                         "prompt again loads no text encoder (T5-XXL alone is ~9.5 GB). The cache lives in "
                         "$DME_EMBEDDING_CACHE, else ~/.cache/dme/embeddings; DME_EMBEDDING_CACHE=off disables it.")
    k.add_argument("--clear", action="store_true", help="delete every cached embedding")
    # `rehearse` has its own options (lib.rehearsal): main() hands it the rest of the command line.
    verbs.add_parser("rehearse", help="full-size SD3/FLUX architectures with random weights on this machine: "
                     "memory and time per stage (see `python -m lib rehearse --help`)", add_help=False)
    verbs.add_parser("train-miniatures", help="train the miniatures on the shapes world into "
                     "precomputed/trained-miniatures (see `python -m lib train-miniatures --help`)", add_help=False)
    return parser


# ---------------------------------------------------------------------------------------------- checks

def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(path: Path) -> None:
    """A PNG path we can write: not a folder, ends in .png, its folder writable (or creatable)."""
    if path.is_dir():
        raise ConfigError(f"--output {path} is a folder; give a file name such as {path / 'image.png'}")
    if path.suffix.lower() != ".png":
        raise ConfigError(f"--output {path} must end in .png (images are written as PNG)")
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        raise ConfigError(f"cannot write {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write {path}: {folder} is not writable; choose another --output")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"cannot write {path}: the file is read-only; choose another --output")


def check_output_folder(path: Path) -> None:
    """A folder we can write records into: not an existing file, writable (or creatable)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out {path} is a file; records go into a folder: give a folder name")
    folder = _nearest_existing(path)
    if not folder.is_dir():
        raise ConfigError(f"cannot write records under {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write records under {path}: {folder} is not writable; choose another --out")


def _weights_options(a: argparse.Namespace, config) -> None:
    if a.gguf is not None and a.snapshot is None:
        raise ConfigError("--gguf needs --snapshot (the local snapshot with the text encoders, VAE and "
                          "transformer/config.json that go with the GGUF file)")
    if a.miniature and (a.snapshot or a.gguf):
        raise ConfigError("--snapshot/--gguf load real weights; drop --miniature, or drop them")
    if a.gguf is not None and config.spec.quantizations.get(config.quantization) is None:
        raise ConfigError(f"--gguf is for a GGUF transformer; {config.model} with quantization "
                          f"{config.quantization!r} loads none (use flux-schnell with --quantization Q4_K_S, ...)")


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="image", file=sys.stderr, leave=False)


# ---------------------------------------------------------------------------------------------- verbs

def cmd_generate(a: argparse.Namespace) -> None:
    from lib.config import DiffusionConfig

    config = DiffusionConfig(a.model, a.prompt, steps=a.steps, guidance=a.guidance, height=a.height, width=a.width,
                             seed=a.seed, dtype=a.dtype, quantization=a.quantization, offload=a.offload,
                             drop_t5=a.drop_t5, max_sequence_length=a.max_sequence_length, staged=not a.unstaged,
                             miniature=a.miniature, trained=a.trained)
    _weights_options(a, config)
    check_output_file(a.output)
    from lib.device import pick_device
    from lib.pipelines import generate_many, load_pipeline
    from lib.records import atomic_write
    from lib.weights import from_local

    device = pick_device(a.device)
    paths = from_local(config, a.snapshot, a.gguf) if a.snapshot else None
    with _progress(1, config.model) as bar:
        use_cache = not a.no_embedding_cache
        result = generate_many(load_pipeline(config, paths, device, use_cache=use_cache), [config],
                               use_cache=use_cache)[0]
        bar.update()
    stop_if_interrupted()
    atomic_write(a.output, lambda p: result.image.save(p, format="PNG"))
    tag = {"miniature": " (miniature model: random weights)",
           "trained-miniature": " (trained miniature: toy scale, shapes world)"}.get(result.source, "")
    print(f"wrote {a.output}{tag}")
    for s in result.loads + result.stages:
        note = " (embeddings from the cache)" if s.cached else ""
        print(f"  {s.name:<18} {s.seconds:8.3f} s  peak {s.peak_bytes / 2**20:9.1f} MiB  "
              f"weights {s.weights_bytes / 2**20:9.1f} MiB{note}")


def _run_sets(sets, out: Path, a: argparse.Namespace, device):
    from lib.pipelines.runs import run_set

    records = []
    with _progress(sum(len(s.items) for s in sets), "images") as bar:
        for s in sets:
            bar.set_description(s.name)
            records.append(run_set(s, out, device, overwrite=a.overwrite, tick=bar.update))
    return records


def _device(a: argparse.Namespace):
    from lib.device import pick_device

    return pick_device(a.device)


def cmd_compare(a: argparse.Namespace) -> None:
    from lib.pipelines.runs import compare_set

    run = compare_set(a.miniature, a.seed, trained=a.trained)
    check_output_folder(a.out)
    (record,) = _run_sets([run], a.out, a, _device(a))
    print(f"wrote {record.file('comparison_grid')} and {len(record.files) - 1} side-by-side PNGs")


def cmd_benchmark(a: argparse.Namespace) -> None:
    from lib.pipelines.runs import benchmark_set, format_table

    run = benchmark_set(a.miniature, steps=a.steps, trained=a.trained)
    check_output_folder(a.out)
    (record,) = _run_sets([run], a.out, a, _device(a))
    kind = "trained miniatures (toy scale, shapes world)\n" if a.trained else \
        "miniature models (random weights)\n" if a.miniature else ""
    print(kind + format_table(record.tables["benchmark"]))


def cmd_precompute(a: argparse.Namespace) -> None:
    from lib.machine import device_info, machine_folder
    from lib.pipelines.runs import precompute_sets

    sets = precompute_sets(a.miniature, trained=a.trained)
    if a.only:
        unknown = sorted(set(a.only) - {s.name for s in sets})
        if unknown:
            raise ConfigError(f"unknown record {', '.join(unknown)}; known: {', '.join(s.name for s in sets)}")
        sets = [s for s in sets if s.name in a.only]
    if a.out:
        check_output_folder(a.out)
    device = _device(a)
    out = a.out or (PRECOMPUTED / "trained-miniature" if a.trained else PRECOMPUTED / "miniature" if a.miniature
                    else PRECOMPUTED / "weights" / machine_folder(device_info(device)))
    records = _run_sets(sets, out, a, device)
    print(f"wrote {len(records)} records to {out}")


def cmd_cache(a: argparse.Namespace) -> None:
    from lib.pipelines import embeddings

    folder, files, size = embeddings.usage()
    if folder is None:
        print(f"the embedding cache is off ({embeddings.CACHE_ENV}=off)")
        return
    if a.clear:
        print(f"removed {embeddings.clear()} cached embeddings ({size / 2**20:.1f} MiB) from {folder}")
    else:
        print(f"{folder}: {files} cached prompt embeddings, {size / 2**20:.1f} MiB; clear with "
              "`python -m lib cache --clear`")


def single_thread_for_miniatures() -> None:
    """Miniature matrices are too small to gain from intra-op threads, and on shared cores the extra
    threads spin and wait: measured here, 1 thread ran a 64x64 FLUX image ~10x faster than 2 under load."""
    import torch

    torch.set_num_threads(1)


COMMANDS = {"generate": cmd_generate, "compare": cmd_compare, "benchmark": cmd_benchmark, "precompute": cmd_precompute,
            "cache": cmd_cache}


_INTERRUPTED = False


def _on_sigint(signum: int, frame: object) -> None:
    """Remember a Ctrl-C before raising it: libraries that import lazily (diffusers, transformers) wrap a
    KeyboardInterrupt raised during an import into RuntimeError, which would otherwise read as a failure."""
    global _INTERRUPTED
    _INTERRUPTED = True
    raise KeyboardInterrupt


def stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C was swallowed by a library since the command started."""
    if _INTERRUPTED:
        raise KeyboardInterrupt


def _interrupted(verb: str | None) -> int:
    if verb == "train-miniatures":
        print("interrupted; re-run the same command to resume from the last checkpoint", file=sys.stderr)
    elif verb in ("compare", "benchmark", "precompute", "rehearse"):
        print("interrupted; the images stored so far are kept: re-run the same command to resume", file=sys.stderr)
    else:
        print("interrupted; nothing was written", file=sys.stderr)
    return 130


def main(argv: list[str] | None = None) -> int:
    """Run one verb; return the exit code."""
    previous = signal.getsignal(signal.SIGINT)
    ours = threading.current_thread() is threading.main_thread() and previous is signal.default_int_handler
    if ours:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        return _run(argv)
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)


def _run(argv: list[str] | None) -> int:
    verb = None
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv[:1] == ["rehearse"]:
            verb = "rehearse"
            from lib.rehearsal import main as rehearse

            return rehearse(argv[1:])
        if argv[:1] == ["train-miniatures"]:
            verb = "train-miniatures"
            from lib.miniature.trained.train import main as train_miniatures

            return train_miniatures(argv[1:])
        args = build_parser().parse_args(argv)  # argparse itself exits 2 on malformed options
        verb = args.verb
        if getattr(args, "trained", False) and not args.miniature:
            raise ConfigError("--trained picks the trained miniatures: add --miniature")
        if getattr(args, "random_weights", False):
            if not args.miniature:
                raise ConfigError("--random-weights picks the random-weight miniatures: add --miniature")
            if args.trained:
                raise ConfigError("--trained and --random-weights pick different miniatures: keep one")
        if getattr(args, "miniature", False):  # the trained miniatures unless the random-weight ones are asked for
            args.trained = not args.random_weights
        if getattr(args, "miniature", False):
            single_thread_for_miniatures()
        COMMANDS[args.verb](args)
    except DMEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted(verb)
    except Exception as err:  # a bug or a failure of the machine, not of the input
        if _INTERRUPTED:
            return _interrupted(verb)
        if os.environ.get("DME_DEBUG"):
            traceback.print_exc()
        print(f"failed: {type(err).__name__}: {err} (set DME_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1
    return 0
