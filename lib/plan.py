"""Will a run fit? Its planned peak memory, checked against the machine before anything loads (chapter 5, staging).

The plan counts weights, stage by stage, from facts: each component's parameter count, computed from its
architecture on the meta device (`lib.architectures.params`, as chapter 2 explains), times the bytes per
weight of the compute dtype; a GGUF transformer at its published file size (`lib.registry`), since its
weights stay quantized in memory. On top of the largest stage comes OVERHEAD_BYTES, a stated allowance.

Stages follow `lib.pipelines.loading`: staged execution loads the text encoders, frees them, loads the
transformer, frees it, then loads the VAE, so its peak is the largest stage; unstaged loads everything at once
(the sum); with the text embeddings cached, a staged run never loads the text encoders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.config import DiffusionConfig, ModelSpec
from lib.errors import ConfigError
from lib.registry import block_type

if TYPE_CHECKING:
    import torch

GB = 1e9
# Runtime allowance above the weights: the PyTorch / Metal or CUDA context, allocator slack and activations at
# the book's image sizes. A stated round figure, not a measurement: attention activations grow with the image
# (FLUX at 1024x1024 holds 4x the tokens of 512x512), which the warning margin below has to absorb.
OVERHEAD_BYTES = 500_000_000
WARN_FRACTION = 0.85  # above this share of the memory a run may still work but swap or fail: warn
BYTES_PER_WEIGHT = {"float32": 4, "float16": 2, "bfloat16": 2}
# The miniature (random-weight) models hold a few MB of weights (the largest miniature snapshot, FLUX in fp32,
# is ~17 MB on disk; lib.miniature): check_memory skips them, nothing to check against any machine's memory.
MINIATURE_NOTE = "miniature models weigh a few MB"


def dtype_name(dtype: "torch.dtype | str") -> str:
    """'bfloat16' for torch.bfloat16 or 'bfloat16'."""
    name = str(dtype).replace("torch.", "")
    if name not in BYTES_PER_WEIGHT:
        raise ConfigError(f"no memory plan for dtype {name!r}; allowed: {', '.join(BYTES_PER_WEIGHT)}")
    return name


def t5_fp32_weights(config: dict) -> int:
    """Weights of a T5 encoder that transformers keeps in fp32 when it loads the model in float16: the `wo`
    output projection of every feed-forward block (d_ff -> d_model, no bias).

    `T5PreTrainedModel._keep_in_fp32_modules = ["wo"]`. In transformers 5.23 `PreTrainedModel._get_dtype_plan`
    applies `_keep_in_fp32_modules` only when the requested dtype is float16; for bfloat16 it upcasts only
    `_keep_in_fp32_modules_strict`, which T5 does not set. So T5-XXL "in fp16" (SD3 on MPS) is ~11.5 GB, and in
    bf16 (FLUX) 9.5 GB; tests/test_plan.py loads a tiny T5 both ways to hold transformers to this."""
    return config["num_layers"] * config["d_ff"] * config["d_model"]


def weight_bytes(cls: str, config: dict, parameters: int, dtype: "torch.dtype | str") -> int:
    """Bytes of one component's weights once loaded in `dtype` (T5's fp32 `wo` under float16 included)."""
    name = dtype_name(dtype)
    size = parameters * BYTES_PER_WEIGHT[name]
    if cls == "T5EncoderModel" and name == "float16":
        size += t5_fp32_weights(config) * (BYTES_PER_WEIGHT["float32"] - BYTES_PER_WEIGHT[name])
    return size


def gguf_bytes(spec: ModelSpec, file_type: str) -> tuple[int, bool]:
    """Bytes of a model's published GGUF file, and whether that is its published size (True) or computed by the
    size rule of lib.gguf (False; exact to the byte for the files whose size is known)."""
    published = spec.published_gguf[file_type]
    if published.gb is not None:
        return int(published.gb * GB), True
    if spec.architecture != "flux_schnell":
        raise ConfigError(f"no size recorded for {published.filename} and no size rule for {spec.architecture}")
    from lib.architectures.params import flux_schnell_named_shapes
    from lib.architectures.quant_size import gguf_file_bytes

    return gguf_file_bytes(flux_schnell_named_shapes("bfl"), file_type), False


def stage_bytes(config: DiffusionConfig, dtype: "torch.dtype | str") -> tuple[int, int, int]:
    """(text encoders, transformer, VAE): weight bytes of a real-weights config's three stages in `dtype`."""
    from lib.architectures.params import model_params
    from lib.architectures.specs import MODELS

    if config.miniature:
        raise ConfigError(f"no weight plan for miniature models ({MINIATURE_NOTE}); check_memory skips them")
    counts = model_params(config.spec.architecture)
    text = denoise = vae = 0
    for c in MODELS[config.spec.architecture].components:
        if c.role == "text encoder":
            if not (config.drop_t5 and c.name == "T5-XXL"):
                text += weight_bytes(c.cls, c.config, counts[c.name], dtype)
        elif c.role == "denoiser" and config.quantization != "none":
            denoise += gguf_bytes(config.spec, config.quantization)[0]  # stays quantized in memory
        elif c.role == "denoiser":
            denoise += weight_bytes(c.cls, c.config, counts[c.name], dtype)
        else:
            vae += weight_bytes(c.cls, c.config, counts[c.name], dtype)
    return text, denoise, vae


def planned_peak_bytes(config: DiffusionConfig, dtype: "torch.dtype | str", staged: bool, text_cached: bool) -> int:
    """Planned peak memory of a run: the weights resident at its fullest moment, plus OVERHEAD_BYTES.

    Staged: the largest of the three stages; unstaged: all of them (everything loads at once, cached embeddings
    or not); staged with the text embeddings cached: the transformer or the VAE. Miniature configs: the
    overhead alone."""
    if config.miniature:
        return OVERHEAD_BYTES
    text, denoise, vae = stage_bytes(config, dtype)
    if not staged:
        weights = text + denoise + vae
    elif text_cached:
        weights = max(denoise, vae)
    else:
        weights = max(text, denoise, vae)
    return weights + OVERHEAD_BYTES


def available_memory(device: "torch.device") -> tuple[int, str]:
    """(bytes, what they are) a run on `device` may use: Metal's recommended working set on a Mac, the GPU's
    memory on CUDA, the available RAM on the CPU. torch.mps.* raises off a Mac: guarded by device type."""
    if device.type == "mps":
        import torch

        return int(torch.mps.recommended_max_memory()), "Metal's recommended working set"
    if device.type == "cuda":
        import torch

        return int(torch.cuda.get_device_properties(device).total_memory), "the GPU's memory"
    import psutil

    return int(psutil.virtual_memory().available), "the available RAM"


def _describe(config: DiffusionConfig, dtype: str, staged: bool, text_cached: bool) -> str:
    """'flux-schnell (bfloat16, GGUF Q4_K_S, staged)': what the plan is for."""
    what = [dtype]
    if config.quantization != "none":
        what.append(f"GGUF {config.quantization}")
    if config.drop_t5:
        what.append("T5 dropped")
    what.append("staged" + (", text embeddings cached" if text_cached else "") if staged else "unstaged")
    return f"{config.model} ({', '.join(what)})"


def _options(config: DiffusionConfig, dtype: str, text_cached: bool, budget: float) -> list[tuple[str, int]]:
    """Settings of the command line that bring the planned peak within `budget` bytes, each with its peak: the
    fewest changes that fit, and among GGUF files the largest that fits."""
    from itertools import combinations, product

    from lib.gguf.rule import bits_per_weight

    changes: list[list[tuple[str, dict]]] = []
    if not config.staged:
        changes.append([("staged execution, the default (leave out --unstaged)", {"staged": True})])
    if config.spec.t5_droppable and not config.drop_t5:
        changes.append([("drop T5 (--drop-t5)", {"drop_t5": True})])
    if config.spec.runnable_gguf:  # GGUF files with fewer bits per weight than now, largest first
        bits = {q: bits_per_weight(block_type(q)) for q in config.spec.runnable_gguf}
        now = bits.get(config.quantization, 16.0)  # "none": the repo's bf16 transformer
        label = "a smaller GGUF" if config.quantization != "none" else "a GGUF transformer"
        smaller = sorted((q for q in bits if bits[q] < now), key=bits.get, reverse=True)
        if smaller:
            changes.append([(f"{label} (--quantization {q})", {"quantization": q}) for q in smaller])
    for count in range(1, len(changes) + 1):
        found = []
        for groups in combinations(changes, count):
            for choice in product(*groups):  # first fitting choice of this set of changes
                fields = {k: v for _, change in choice for k, v in change.items()}
                candidate = config.with_(**fields)
                peak = planned_peak_bytes(candidate, dtype, candidate.staged, text_cached)
                if peak <= budget:
                    found.append((" and ".join(label for label, _ in choice), peak))
                    break
        if found:
            return found
    return []


def check_memory(config: DiffusionConfig, device: "torch.device", dtype: "torch.dtype | str",
                 text_cached: bool = False) -> str | None:
    """Before any load: None when the run fits comfortably, a warning string when it is close (over
    WARN_FRACTION of the memory), a ConfigError naming what would fit when it would not fit at all."""
    if config.miniature:
        return None  # MINIATURE_NOTE: fits anywhere
    name = dtype_name(dtype)
    planned = planned_peak_bytes(config, name, config.staged, text_cached)
    available, what = available_memory(device)
    if planned <= WARN_FRACTION * available:
        return None
    run = _describe(config, name, config.staged, text_cached)
    need = f"{run} needs about {planned / GB:.1f} GB at its peak on {device.type}"
    have = f"{what} is {available / GB:.1f} GB"
    if planned <= available:
        roomier = _options(config, name, text_cached, WARN_FRACTION * available)
        hint = ("; more room with " + "; or ".join(f"{label}, about {peak / GB:.1f} GB" for label, peak in roomier)
                if roomier else "")
        return f"{need}, {planned / available:.0%} of {what} ({available / GB:.1f} GB): it may swap or fail{hint}"
    # Prefer settings that fit comfortably; else any that fit at all.
    fits = _options(config, name, text_cached, WARN_FRACTION * available) or _options(config, name, text_cached,
                                                                                       available)
    if fits:
        fix = "what would fit: " + "; or ".join(f"{label}, about {peak / GB:.1f} GB" for label, peak in fits)
    else:
        fix = ("no setting this book offers fits: use a machine with more memory (the chapters show stored results "
               "with DME_MODE=stored)")
    raise ConfigError(f"{need} but {have}; {fix}")
