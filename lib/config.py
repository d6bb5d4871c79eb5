"""Model presets and the one validated configuration type: the single place where model facts live.

Every other module reads repo ids, file names and defaults from `PRESETS`; a bad value raises
`ConfigError` here, before any weight is touched, with a message that says what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from lib.errors import ConfigError

DTYPES = ("auto", "float32", "bfloat16", "float16")
OFFLOADS = ("none", "model", "sequential")  # diffusers' enable_model_cpu_offload / enable_sequential_cpu_offload


@dataclass(frozen=True)
class ModelSpec:
    """Facts about one published model: where its weights live and what it accepts."""

    name: str
    family: str  # "sd3" or "flux": which pipeline class runs it
    title: str
    repo_id: str  # diffusers snapshot: text encoders, VAE, scheduler, configs
    steps: int
    guidance: float
    guidance_distilled: bool  # FLUX.1-schnell is distilled to run without CFG (guidance must be 0)
    max_sequence_length: int  # default T5 tokens
    max_sequence_length_limit: int
    size_range: tuple[int, int]  # inclusive, pixels per side
    size_multiple: int  # VAE downsampling (8) x transformer patch size (2)
    default_size: int = 512
    gated: bool = False  # licence must be accepted on the hub page before download
    t5_droppable: bool = False
    quantizations: dict[str, str | None] = field(default_factory=lambda: {"none": None})  # name -> GGUF file
    default_quantization: str = "none"
    gguf_repo: str | None = None


PRESETS: dict[str, ModelSpec] = {
    # Esser et al. 2024 (SD3): MMDiT with CLIP-L, CLIP-G and T5-XXL text encoders; T5 may be dropped.
    "sd3-medium": ModelSpec(
        name="sd3-medium",
        family="sd3",
        title="Stable Diffusion 3 Medium",
        repo_id="stabilityai/stable-diffusion-3-medium-diffusers",
        steps=28,
        guidance=7.0,
        guidance_distilled=False,
        max_sequence_length=256,
        max_sequence_length_limit=512,
        size_range=(256, 1536),
        size_multiple=16,
        default_size=512,
        gated=True,
        t5_droppable=True,
    ),
    # Black Forest Labs 2024: rectified-flow transformer, timestep-distilled to 1-4 steps, no CFG.
    "flux-schnell": ModelSpec(
        name="flux-schnell",
        family="flux",
        title="FLUX.1-schnell",
        repo_id="black-forest-labs/FLUX.1-schnell",
        steps=4,
        guidance=0.0,
        guidance_distilled=True,
        max_sequence_length=256,
        max_sequence_length_limit=256,  # schnell was trained with 256 T5 tokens
        size_range=(256, 2048),
        size_multiple=16,
        default_size=512,
        quantizations={
            "none": None,  # the bf16 transformer from repo_id (23.8 GB)
            "Q8_0": "flux1-schnell-Q8_0.gguf",
            "Q6_K": "flux1-schnell-Q6_K.gguf",
            "Q5_K_S": "flux1-schnell-Q5_K_S.gguf",
            "Q4_K_S": "flux1-schnell-Q4_K_S.gguf",
            "Q4_0": "flux1-schnell-Q4_0.gguf",
            "F16": "flux1-schnell-F16.gguf",
        },
        default_quantization="Q4_K_S",
        gguf_repo="city96/FLUX.1-schnell-gguf",
    ),
}

# Miniature models (lib.miniature) take small images and have one GGUF file per block type;
# a published "_K_S" file is mostly blocks of the matching K type, so the miniature uses that type.
MINIATURE_SIZE_RANGE = (32, 256)
MINIATURE_SIZE = 64
MINIATURE_GGUF = {"Q8_0": "Q8_0", "Q6_K": "Q6_K", "Q5_K_S": "Q5_K", "Q4_K_S": "Q4_K", "Q4_0": "Q4_0", "F16": "F16"}


def model_spec(name: str) -> ModelSpec:
    """The preset called `name`, or a ConfigError listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(PRESETS)}")
    return PRESETS[name]


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

    def __post_init__(self) -> None:
        spec = model_spec(self.model)
        size = MINIATURE_SIZE if self.miniature else spec.default_size
        defaults = {
            "steps": spec.steps,
            "guidance": spec.guidance,
            "height": size,
            "width": size,
            "quantization": spec.default_quantization,
            "max_sequence_length": spec.max_sequence_length,
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
        """Plain JSON-ready fields (for records)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _validate(c: DiffusionConfig, spec: ModelSpec) -> None:
    if not isinstance(c.prompt, str) or not c.prompt.strip():
        raise ConfigError("the prompt is empty; give a text describing the image, e.g. --prompt 'a red bicycle'")
    if not isinstance(c.steps, int) or isinstance(c.steps, bool) or c.steps < 1:
        raise ConfigError(f"steps must be an integer >= 1 (got {c.steps!r}); {spec.name} uses {spec.steps}")
    if spec.guidance_distilled and c.guidance != 0:
        raise ConfigError(
            f"{spec.name} is guidance-distilled and takes no classifier-free guidance: use guidance 0 (got {c.guidance})"
        )
    if not spec.guidance_distilled and not 0 <= c.guidance <= 30:
        raise ConfigError(f"guidance must be between 0 and 30 for {spec.name} (got {c.guidance}); default {spec.guidance}")
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
        raise ConfigError(f"{spec.name} cannot run without its T5 encoder; drop_t5 is only for sd3-medium")
    msl = c.max_sequence_length
    if not isinstance(msl, int) or not 1 <= msl <= spec.max_sequence_length_limit:
        raise ConfigError(
            f"max_sequence_length must be between 1 and {spec.max_sequence_length_limit} for {spec.name} (got {msl!r})"
        )
    if not isinstance(c.seed, int) or c.seed < 0:
        raise ConfigError(f"seed must be an integer >= 0 (got {c.seed!r})")
