"""Measure the memory peak of loading a FLUX transformer from a GGUF file, against the budget 1.1 x file size.

    python -m lib.tools.bench_gguf_load [--size-gb 2] [--qtype Q4_K] [--inner-dim 3072] [--no-old] [--forward]

Writes (to a temp folder) a BFL-keyed FLUX GGUF file of about --size-gb: FLUX.1's real width (inner dim 3072,
joint_attention_dim 4096, ...) with fewer blocks (double:single = 1:2 as in FLUX.1), each tensor in the type
the published files' rule gives it (`lib.gguf.rule`). The block-quantized tensors are random bytes with valid
float16 scales, written by the rehearsal's writer (`lib.rehearsal.gguf_random`; encoding GBs of real K-quants
would take minutes and the loader never looks at the values). Then, for each reader, a FRESH Python process loads it with
`load_flux_transformer_gguf` (after a warm-up load of a tiny file, so imports and first-use allocations are not
counted) and reports:

- load peak: the process's peak RSS during the load minus its RSS before, over the file size. On Linux the
  kernel keeps the peak (VmHWM, reset through /proc/self/clear_refs: `lib.memory.PeakMemory`); elsewhere it is
  sampled every 5 ms. This is the budgeted number (<= 1.1).
- after the load: RSS increase split into anonymous memory (RssAnon: copies, casts) and file-backed pages
  (RssFile: pages of the memory-mapped file that were touched).
- then the peak (still counted from before the load) while every byte of every weight is read once, as a
  forward pass does, and with --forward while one real forward pass runs on 16 image and 8 text tokens (slow on
  a CPU: every weight is dequantized, into temporaries that come on top).

What RSS means for a memory-mapped file: a page of the file counts in the process's RSS once touched (RssFile),
whether the kernel read it from disk or found it in the page cache. The mmap reader (`lib.gguf.reader`) touches
almost nothing while loading: the header, and the F16 tensors (the embedders) that are cast to a float32 compute
dtype. At FLUX.1's width that is a fixed ~0.34 GB (0.1 GB of F16 pages + their 0.2 GB float32 copies): measured
0.05 x a 6.78 GB file, 0.18 x a 1.87 GB one. The file's pages come in at the first forward, up to 1.0 x the file,
as clean page cache that the kernel can drop under pressure (and re-read from disk), not as anonymous memory; a
forward's dequantized weights and activations come on top of that with either reader. diffusers' reader
(`load_gguf_checkpoint`, which does `torch.from_numpy(tensor.data.copy())` per tensor) touches every page of
its map (RssFile ~1x) while copying it into anonymous memory (RssAnon ~1x): ~2.0 x the file at the peak, 1x kept.

`--size-gb 6.8` gives FLUX.1's 19 double + 38 single blocks: 6,783,943,712 bytes, the size of city96's
flux1-schnell-Q4_K_S.gguf to the byte (the per-tensor rule and layout match the published file).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET = 1.1  # peak RSS increase during the load / file size (issue "Memory")

def flux_config(inner_dim: int, double: int, single: int) -> dict:
    """A FluxTransformer2DModel config of FLUX.1's shape but `inner_dim` wide and double/single blocks deep."""
    if inner_dim % 128:
        raise ValueError(f"inner dim {inner_dim} is not a multiple of FLUX's head size 128")
    return dict(patch_size=1, in_channels=64, num_layers=double, num_single_layers=single, attention_head_dim=128,
                num_attention_heads=inner_dim // 128, joint_attention_dim=4096, pooled_projection_dim=768,
                guidance_embeds=False, axes_dims_rope=(16, 56, 56))


def _meta_model(config: dict):
    import torch
    from diffusers import FluxTransformer2DModel

    with torch.device("meta"):
        return FluxTransformer2DModel.from_config(config)


def file_plan(config: dict, qtype: str) -> list[tuple[str, tuple[int, ...], str]]:
    """(BFL name, shape, GGML type) of every tensor of the GGUF file for `config` in `qtype` (sorted by name)."""
    from lib.gguf import rule
    from lib.gguf.keymap import diffusers_to_bfl

    bfl = diffusers_to_bfl(_meta_model(config).state_dict())  # meta tensors: shapes only
    return [(n, tuple(bfl[n].shape), rule.tensor_type(n, tuple(bfl[n].shape), qtype)) for n in sorted(bfl)]


def _nbytes(shape: tuple[int, ...], gtype: str) -> int:
    from lib.gguf.rule import block

    elems, size = block(gtype)
    return math.prod(shape) // elems * size


def plan_bytes(plan) -> int:
    return sum(_nbytes(shape, gtype) for _, shape, gtype in plan)


def sized_config(size_gb: float, qtype: str, inner_dim: int) -> dict:
    """The config whose file is closest to size_gb GB: k double and 2k single blocks."""
    base = plan_bytes(file_plan(flux_config(inner_dim, 0, 0), qtype))
    per_k = plan_bytes(file_plan(flux_config(inner_dim, 1, 2), qtype)) - base
    k = max(1, round((size_gb * 1e9 - base) / per_k))
    return flux_config(inner_dim, k, 2 * k)


def write_case(folder: Path, config: dict, qtype: str) -> tuple[Path, Path, int]:
    """A GGUF file and the snapshot folder (transformer/config.json) the loader needs for it."""
    snapshot = folder / "snapshot"
    _meta_model(config).save_config(snapshot / "transformer")
    from lib.rehearsal.gguf_random import write_random_gguf

    path = folder / f"flux-{qtype}.gguf"
    write_random_gguf(path, {name: shape for name, shape, _ in file_plan(config, qtype)}, qtype)
    return path, snapshot, path.stat().st_size


# ---- the measuring child process ------------------------------------------------------------------------------


def _status() -> dict[str, int]:
    """RSS figures of this process from /proc/self/status (bytes); psutil's RSS alone elsewhere."""
    out: dict[str, int] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        import psutil

        out["VmRSS"] = int(psutil.Process().memory_info().rss)
    return out


def _use_diffusers_reader() -> None:
    """Make the loader read with diffusers' `load_gguf_checkpoint` (the copying reader it used before)."""
    from diffusers.models.model_loading_utils import load_gguf_checkpoint

    import lib.gguf.loader as loader

    loader.read_gguf_tensors = lambda path: load_gguf_checkpoint(str(path))


def _touch_every_weight(model) -> int:
    """Read every byte of every parameter once (what a forward pass's dequantization reads), allocating nothing
    big (a uint8 max, where a sum would first widen the tensor)."""
    import torch

    top = 0
    with torch.no_grad():
        for p in model.parameters():
            t = p.as_tensor() if hasattr(p, "as_tensor") else p.detach()  # GGUFParameter -> plain uint8 tensor
            top = max(top, int(t.reshape(-1).view(torch.uint8).max()))
    return top


def _forward(model, dtype) -> None:
    import torch

    cfg = model.config
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        model(hidden_states=torch.randn(1, 16, cfg.in_channels, generator=g).to(dtype),
              encoder_hidden_states=torch.randn(1, 8, cfg.joint_attention_dim, generator=g).to(dtype),
              pooled_projections=torch.randn(1, cfg.pooled_projection_dim, generator=g).to(dtype),
              timestep=torch.tensor([0.5], dtype=dtype), img_ids=torch.zeros(16, 3), txt_ids=torch.zeros(8, 3))


def child(args) -> dict:
    """Runs in a fresh process: warm up on the tiny file, then load the big one and measure."""
    import gc

    import torch

    from lib.gguf import load_flux_transformer_gguf
    from lib.memory import PeakMemory

    if args.reader == "diffusers":
        _use_diffusers_reader()
    dtype = getattr(torch, args.dtype)
    warm = load_flux_transformer_gguf(Path(args.warm_gguf), Path(args.warm_snapshot), dtype)
    _touch_every_weight(warm)
    del warm
    gc.collect()
    cpu = torch.device("cpu")
    before = _status()
    start = time.perf_counter()
    with PeakMemory(cpu) as load:
        model = load_flux_transformer_gguf(Path(args.child), Path(args.snapshot), dtype)
    seconds = time.perf_counter() - start
    after = _status()
    result = {"reader": args.reader, "load_s": seconds, "rss_before": before["VmRSS"], "load_peak": load.peak_bytes,
              "after": after, "before": before}
    with PeakMemory(cpu) as touch:
        _touch_every_weight(model)
    result["touch_peak"] = touch.peak_bytes
    result["after_touch"] = _status()
    if args.forward:
        start = time.perf_counter()
        with PeakMemory(cpu) as fwd:
            _forward(model, dtype)
        result["forward_s"] = time.perf_counter() - start
        result["forward_peak"] = fwd.peak_bytes
        result["after_forward"] = _status()
    return result


# ---- the parent: write, run the children, print ---------------------------------------------------------------


def run_child(reader: str, path: Path, snapshot: Path, warm: tuple[Path, Path], dtype: str, forward: bool) -> dict:
    cmd = [sys.executable, "-m", "lib.tools.bench_gguf_load", "--child", str(path), "--snapshot", str(snapshot),
           "--warm-gguf", str(warm[0]), "--warm-snapshot", str(warm[1]), "--reader", reader, "--dtype", dtype]
    if forward:
        cmd.append("--forward")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2])
    if proc.returncode:
        raise RuntimeError(f"the {reader} load failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _gb(n: float) -> str:
    return f"{n / 1e9:6.3f} GB"


def report(r: dict, size: int) -> list[str]:
    base, a = r["rss_before"], r["after"]
    anon, filed = (a.get(k, 0) - r["before"].get(k, 0) for k in ("RssAnon", "RssFile"))
    lines = [
        f"  load: {r['load_s']:.1f} s, peak RSS increase {_gb(r['load_peak'] - base)} = "
        f"{(r['load_peak'] - base) / size:.3f} x file",
        f"  kept after the load: {_gb(a['VmRSS'] - base)} (anonymous {_gb(anon)}, file-backed {_gb(filed)})",
        f"  reading every weight once after it: peak {(r['touch_peak'] - base) / size:.3f} x file, kept "
        f"{_gb(r['after_touch']['VmRSS'] - base)} (file-backed "
        f"{_gb(r['after_touch'].get('RssFile', 0) - r['before'].get('RssFile', 0))})",
    ]
    if "forward_peak" in r:
        lines.append(f"  then one forward pass ({r['forward_s']:.1f} s): peak {(r['forward_peak'] - base) / size:.3f}"
                     " x file (dequantized weights and activations on top)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.tools.bench_gguf_load", description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=2.0, help="approximate file size (default 2)")
    parser.add_argument("--qtype", default="Q4_K", choices=["Q4_K"],
                        help="block type: Q4_K, the published default's (random files: lib.rehearsal.gguf_random)")
    parser.add_argument("--inner-dim", type=int, default=3072, help="transformer width (default FLUX.1's 3072)")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                        help="compute dtype (default float32, the CPU's)")
    parser.add_argument("--no-old", action="store_true", help="skip diffusers' copying reader")
    parser.add_argument("--forward", action="store_true", help="also run one forward pass (slow on a CPU)")
    parser.add_argument("--dir", type=Path, help="write the files here instead of a temp folder (kept)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--snapshot", help=argparse.SUPPRESS)
    parser.add_argument("--warm-gguf", help=argparse.SUPPRESS)
    parser.add_argument("--warm-snapshot", help=argparse.SUPPRESS)
    parser.add_argument("--reader", default="mmap", choices=("mmap", "diffusers"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    from lib.machine import device_info, versions

    print("machine:", json.dumps(device_info("cpu")))
    print("versions:", json.dumps(versions()))
    with tempfile.TemporaryDirectory(prefix="bench-gguf-") as tmp:
        folder = args.dir or Path(tmp)
        config = sized_config(args.size_gb, args.qtype, args.inner_dim)
        start = time.perf_counter()
        path, snapshot, size = write_case(folder / "big", config, args.qtype)
        warm_path, warm_snapshot, _ = write_case(folder / "warm", flux_config(256, 1, 1), args.qtype)
        print(f"file: {args.qtype}, inner dim {args.inner_dim}, {config['num_layers']} double + "
              f"{config['num_single_layers']} single blocks, {size:,} bytes ({size / 1e9:.2f} GB), "
              f"written in {time.perf_counter() - start:.1f} s; compute dtype {args.dtype}")
        results = {}
        for reader in ("mmap",) if args.no_old else ("mmap", "diffusers"):
            results[reader] = run_child(reader, path, snapshot, (warm_path, warm_snapshot), args.dtype, args.forward)
            label = {"mmap": "new: memory-mapped reader (lib.gguf.reader)",
                     "diffusers": "old: diffusers' load_gguf_checkpoint (copies every tensor)"}[reader]
            print(label)
            print("\n".join(report(results[reader], size)))
    ratio = (results["mmap"]["load_peak"] - results["mmap"]["rss_before"]) / size
    verdict = "ok" if ratio <= BUDGET else "OVER BUDGET"
    print(f"GGUF transformer load peak / file size: {ratio:.3f}   budget {BUDGET}   {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
