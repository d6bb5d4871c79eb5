"""The one validated configuration type: a generation request checked against the model's facts.

The facts themselves (repo ids, defaults, sizes, GGUF files) live in `lib.registry`; this module
re-exports its `ModelSpec`, `PRESETS` and `model_spec`, fills a request's defaults from them and raises
`ConfigError` for a bad value, before any weight is touched, with a message that says what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from lib.errors import ConfigError
from lib.registry import PRESETS, ModelSpec, model_spec

__all__ = ["DTYPES", "OFFLOADS", "MAX_STEPS", "MINIATURE_SIZE", "MINIATURE_SIZE_RANGE", "SEED_LIMIT", "PRESETS",
           "DiffusionConfig", "ModelSpec", "model_spec"]

DTYPES = ("auto", "float32", "bfloat16", "float16")
OFFLOADS = ("none", "model", "sequential")  # diffusers' enable_model_cpu_offload / enable_sequential_cpu_offload


# Miniature models (lib.miniature) take small images; their GGUF files are named by block type, and a
# config's published file type picks the miniature file of its block type (lib.registry.block_type).
MINIATURE_SIZE_RANGE = (32, 256)
MINIATURE_SIZE = 64
# The trained miniatures learned the shapes world's 32x32 images, with T5 reading 24 tokens
# (lib.miniature.trained.IMAGE_SIZE and .text.T5_CONTEXT; a test checks they agree).
TRAINED_SIZE = 32
TRAINED_T5_TOKENS = 24
# An upper bound that catches typos (2800 for 28) before minutes of denoising: the book's runs use at
# most a few dozen steps, and both schedulers are trained on 1000 timesteps.
MAX_STEPS = 1000
SEED_LIMIT = 2**64  # torch.Generator.manual_seed takes 0 <= seed < 2**64


@dataclass(frozen=True)
class DiffusionConfig:
    """One generation request; None fields take the preset's default, then everything is validated."""

    model: str
    prompt: str
    steps: int | None = None
    guidance: float | None = None
    height: int | None = None
    width: int | None = None
    seed: int = 42
    dtype: str = "auto"
    quantization: str | None = None
    offload: str = "none"
    drop_t5: bool = False
    max_sequence_length: int | None = None
    staged: bool = True  # encode, free the text encoders, then denoise and decode
    miniature: bool = False  # random-weight models of the same architecture (lib.miniature)
    trained: bool = False  # with miniature: the miniatures trained on the shapes world (lib.miniature.trained)

    def __post_init__(self) -> None:
        spec = model_spec(self.model)
        if self.trained and not self.miniature:
            raise ConfigError("trained=True selects the trained miniatures: it needs miniature=True (--miniature)")
        size = TRAINED_SIZE if self.trained else MINIATURE_SIZE if self.miniature else spec.default_size
        defaults = {
            "steps": spec.steps,
            "guidance": spec.guidance,
            "height": size,
            "width": size,
            "quantization": spec.default_quantization,
            "max_sequence_length": TRAINED_T5_TOKENS if self.trained else spec.max_sequence_length,
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        _validate(self, spec)

    @property
    def spec(self) -> ModelSpec:
        """The preset this config runs."""
        return PRESETS[self.model]

    def with_(self, **changes: Any) -> "DiffusionConfig":
        """A validated copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready fields (for records). `trained` only when true: records made before it existed
        then read the same (their runs resume rather than count as changed settings)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "trained" or self.trained}


def _validate(c: DiffusionConfig, spec: ModelSpec) -> None:
    if not isinstance(c.prompt, str) or not c.prompt.strip():
        raise ConfigError("the prompt is empty; give a text describing the image, e.g. --prompt 'a red bicycle'")
    if not isinstance(c.steps, int) or isinstance(c.steps, bool) or c.steps < 1:
        raise ConfigError(f"steps must be an integer >= 1 (got {c.steps!r}); {spec.name} uses {spec.steps}")
    if c.steps > MAX_STEPS:
        raise ConfigError(f"steps must be at most {MAX_STEPS} (got {c.steps}); {spec.name} uses {spec.steps}")
    if spec.guidance_distilled and c.guidance != 0:
        raise ConfigError(
            f"{spec.name} is guidance-distilled and takes no classifier-free guidance: use guidance 0 (got {c.guidance})"
        )
    if not spec.guidance_distilled and not 0 <= c.guidance <= 30:
        raise ConfigError(f"guidance must be between 0 and 30 for {spec.name} (got {c.guidance}); default {spec.guidance}")
    if c.trained and (c.height, c.width) != (TRAINED_SIZE, TRAINED_SIZE):
        raise ConfigError(f"the trained miniatures make {TRAINED_SIZE}x{TRAINED_SIZE} images only (the size of the "
                          f"world they learned); got {c.height}x{c.width}: for other sizes use the random-weight miniatures "
                          "(--miniature --random-weights)")
    if c.trained and c.max_sequence_length != TRAINED_T5_TOKENS:
        raise ConfigError(f"the trained miniatures read {TRAINED_T5_TOKENS} T5 tokens, as they were trained; "
                          f"max_sequence_length must be {TRAINED_T5_TOKENS} (got {c.max_sequence_length!r})")
    lo, hi = MINIATURE_SIZE_RANGE if c.miniature else spec.size_range
    for side in ("height", "width"):
        v = getattr(c, side)
        if not isinstance(v, int) or not lo <= v <= hi or v % spec.size_multiple:
            raise ConfigError(
                f"{side} {v!r} is not allowed for {spec.name}: use a multiple of {spec.size_multiple} "
                f"between {lo} and {hi}{' (miniature models)' if c.miniature else ''}"
            )
    if c.quantization not in spec.quantizations:
        raise ConfigError(
            f"unknown quantization {c.quantization!r} for {spec.name}; allowed: {', '.join(spec.quantizations)}"
        )
    if c.dtype not in DTYPES:
        raise ConfigError(f"unknown dtype {c.dtype!r}; allowed: {', '.join(DTYPES)}")
    if spec.family == "flux" and c.dtype == "float16":
        # FLUX activations overflow fp16 and give NaN / black images: bf16 or fp32 only.
        raise ConfigError("FLUX does not run in float16 (activations overflow to NaN); use bfloat16, float32 or auto")
    if c.offload not in OFFLOADS:
        raise ConfigError(f"unknown offload {c.offload!r}; allowed: {', '.join(OFFLOADS)}")
    if c.drop_t5 and not spec.t5_droppable:
        droppable = ", ".join(n for n, s in PRESETS.items() if s.t5_droppable)
        raise ConfigError(f"{spec.name} cannot run without its T5 encoder; drop_t5 is only for {droppable}")
    msl = c.max_sequence_length
    if not isinstance(msl, int) or not 1 <= msl <= spec.max_sequence_length_limit:
        raise ConfigError(
            f"max_sequence_length must be between 1 and {spec.max_sequence_length_limit} for {spec.name} (got {msl!r})"
        )
    if not isinstance(c.seed, int) or isinstance(c.seed, bool) or not 0 <= c.seed < SEED_LIMIT:
        raise ConfigError(f"seed must be an integer from 0 to 2**64 - 1, the range torch's generator takes (got {c.seed!r})")
