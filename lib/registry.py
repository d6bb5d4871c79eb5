"""The one home of the facts about the models this book runs: SD3 Medium and FLUX.1-schnell.

Each fact is typed here once and read everywhere else by key: `lib.config` validates requests against
these specs, `lib.weights` builds download commands from their repo ids and GGUF files,
`lib.architectures.specs` takes their repo ids and defaults for chapter 2's table, `lib.miniature.build`
their scheduler shifts, `lib.gguf.rule` and `lib.gguf.writer` the GGUF file-type map, `lib.mac_memory` and
`lib.quant_study` the published GGUF files. A spec's `architecture` is its key into
`lib.architectures.specs.MODELS`, where the component configurations live. Download sizes (`downloads`, the
GGUF files' `gb`) are what `lib.weights` tells a reader before a download and `lib.plan` before a load.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.errors import ConfigError

# llama.cpp file type (its ftype name) -> the GGML block type the file's plain 2-D weights get. A "_K_S"
# ("small") mix quantizes every such weight to its K type: llama.cpp's name-based bumps of the mix
# (attn_v, ffn_down, ...) match no tensor name of the FLUX layout (lib.gguf.rule). Block-type names
# name the plain mix of that block type too (what lib.gguf.write_flux_gguf takes), so they map to themselves.
_BLOCK_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0", "Q4_K", "Q4_1", "Q4_0", "Q3_K", "Q2_K")
_K_SMALL_MIXES = {"Q5_K_S": "Q5_K", "Q4_K_S": "Q4_K", "Q3_K_S": "Q3_K"}
GGUF_FILE_TYPES: dict[str, str] = {**{b: b for b in _BLOCK_TYPES}, **_K_SMALL_MIXES}


def block_type(file_type: str) -> str:
    """The GGML block type of a GGUF file type's plain weights (Q4_K_S -> Q4_K, Q8_0 -> Q8_0)."""
    if file_type not in GGUF_FILE_TYPES:
        raise ConfigError(f"unknown GGUF file type {file_type!r}; known: {', '.join(GGUF_FILE_TYPES)}")
    return GGUF_FILE_TYPES[file_type]


def file_type_of_block(block: str) -> str:
    """The llama.cpp file type a file of mostly `block` blocks carries: a K type's "_S" mix, else the type itself."""
    if block not in _BLOCK_TYPES:
        raise ConfigError(f"unknown GGML block type {block!r}; known: {', '.join(_BLOCK_TYPES)}")
    mixes = [f for f, b in _K_SMALL_MIXES.items() if b == block]
    return mixes[0] if mixes else block


@dataclass(frozen=True)
class GGUFFile:
    """One published GGUF file of a model's transformer."""

    file_type: str  # llama.cpp file type, a key of GGUF_FILE_TYPES
    filename: str  # in the model's gguf_repo
    gb: float | None = None  # size in the repo's file listing (1 GB = 1e9 bytes); None: published, size not recorded

    @property
    def block_type(self) -> str:
        """The block type of the file's plain weights."""
        return block_type(self.file_type)


@dataclass(frozen=True)
class ComponentDownload:
    """One folder of a model's diffusers repo as `hf download` fetches it: its size and where the figure comes from."""

    subfolder: str
    bytes: int  # 1 GB = 1e9 bytes
    source: str


def _published(stem: str, sizes: dict[str, float | None]) -> tuple[GGUFFile, ...]:
    """Files named `<stem>-<file type>.gguf`, as city96 names them."""
    return tuple(GGUFFile(t, f"{stem}-{t}.gguf", gb) for t, gb in sizes.items())


@dataclass(frozen=True)
class ModelSpec:
    """Facts about one published model: where its weights live, what it accepts, how it samples."""

    name: str  # the key of PRESETS (what --model takes)
    family: str  # "sd3" or "flux": which pipeline class runs it
    title: str
    architecture: str  # key of lib.architectures.specs.MODELS: the component configurations
    repo_id: str  # diffusers snapshot: text encoders, VAE, scheduler, configs
    steps: int
    guidance: float
    guidance_distilled: bool  # FLUX.1-schnell is distilled to run without CFG (guidance must be 0)
    max_sequence_length: int  # default T5 tokens
    max_sequence_length_limit: int
    size_range: tuple[int, int]  # inclusive, pixels per side
    size_multiple: int  # VAE downsampling (8) x transformer patch size (2)
    scheduler_shift: float  # FlowMatchEulerDiscreteScheduler `shift`, <repo_id>/scheduler/scheduler_config.json
    dynamic_shifting: bool = False  # the scheduler's `use_dynamic_shifting` (resolution-dependent shift)
    default_size: int = 512
    gated: bool = False  # licence must be accepted on the hub page before download
    t5_droppable: bool = False
    gguf_repo: str | None = None
    gguf_files: tuple[GGUFFile, ...] = ()  # every GGUF file published in gguf_repo
    runnable_gguf: tuple[str, ...] = ()  # the file types a config may ask for (each with a miniature file)
    default_quantization: str = "none"
    # Published sizes of the repo's component folders (lib.weights states the download size from them); a folder
    # missing here is estimated from its parameter count (lib.architectures) x 2 bytes, and said to be "about".
    downloads: tuple[ComponentDownload, ...] = ()

    @property
    def published_gguf(self) -> dict[str, GGUFFile]:
        """File type -> published GGUF file: which files exist, whether or not their size is recorded."""
        return {f.file_type: f for f in self.gguf_files}

    @property
    def quantizations(self) -> dict[str, str | None]:
        """What a config's `quantization` may be: "none" (the repo's bf16 transformer) or a GGUF file type -> file."""
        files = self.published_gguf
        return {"none": None, **{t: files[t].filename for t in self.runnable_gguf}}


PRESETS: dict[str, ModelSpec] = {spec.name: spec for spec in (
    # Esser et al. 2024 (SD3): MMDiT with CLIP-L, CLIP-G and T5-XXL text encoders; T5 may be dropped.
    ModelSpec(
        name="sd3-medium",
        family="sd3",
        title="Stable Diffusion 3 Medium",
        architecture="sd3",
        repo_id="stabilityai/stable-diffusion-3-medium-diffusers",
        gated=True,
        steps=28,  # diffusers StableDiffusion3Pipeline default num_inference_steps
        guidance=7.0,
        guidance_distilled=False,
        max_sequence_length=256,
        max_sequence_length_limit=512,
        size_range=(256, 1536),
        size_multiple=16,
        # Timesteps shifted towards noise, t' = s t / (1 + (s - 1) t) (Esser et al. 2024, sec. 5.3.2).
        scheduler_shift=3.0,
        t5_droppable=True,
    ),
    # Black Forest Labs 2024: rectified-flow transformer, timestep-distilled to 1-4 steps, no CFG.
    ModelSpec(
        name="flux-schnell",
        family="flux",
        title="FLUX.1-schnell",
        architecture="flux_schnell",
        repo_id="black-forest-labs/FLUX.1-schnell",
        gated=True,  # like SD3 Medium: licence acceptance and login on the hub (2026-11)
        steps=4,
        guidance=0.0,
        guidance_distilled=True,
        max_sequence_length=256,
        max_sequence_length_limit=256,  # schnell was trained with 256 T5 tokens
        size_range=(256, 2048),
        size_multiple=16,
        # No shift, static: BFL's reference sampler shifts only flux-dev (`shift=(name != "flux-schnell")`).
        scheduler_shift=1.0,
        dynamic_shifting=False,
        gguf_repo="city96/FLUX.1-schnell-gguf",
        # Every file of the repo, sizes as its file listing rounds them (the upload commits give the bytes:
        # Q3_K_S 5,212,210,208, Q4_1 7,510,346,656, Q5_1 8,989,625,248). Q6_K's size is not recorded here:
        # chapter 2 computes it with the size rule (lib.architectures.quant_size) and says so.
        gguf_files=_published("flux1-schnell", {
            "F16": 23.8, "Q8_0": 12.7, "Q6_K": None, "Q5_K_S": 8.26, "Q5_1": 8.99, "Q5_0": 8.25,
            "Q4_K_S": 6.78, "Q4_1": 7.51, "Q4_0": 6.77, "Q3_K_S": 5.21, "Q2_K": 4.01,
        }),
        runnable_gguf=("Q8_0", "Q6_K", "Q5_K_S", "Q4_K_S", "Q4_0", "F16"),
        default_quantization="Q4_K_S",
        # bf16 files in the repo's listing (2026-11); the configs, tokenizers and scheduler add a few MB.
        downloads=(
            ComponentDownload("text_encoder_2", 4_994_582_224 + 4_530_066_360,
                              "T5-XXL: the two bf16 shards of text_encoder_2 in the repo's file listing"),
            ComponentDownload("transformer", 23_800_000_000, "bf16 transformer shards, 23.8 GB in the repo's listing"),
            ComponentDownload("text_encoder", 250_000_000, "CLIP-L, bf16, 0.25 GB in the repo's listing"),
            ComponentDownload("vae", 170_000_000, "16-channel VAE, bf16, 0.17 GB in the repo's listing"),
        ),
    ),
)}


def model_spec(name: str) -> ModelSpec:
    """The preset called `name`, or a ConfigError listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(PRESETS)}")
    return PRESETS[name]


def published_gguf_gb(name: str) -> dict[str, float]:
    """File type -> published size (GB) of a model's GGUF files whose size is recorded."""
    return {t: f.gb for t, f in model_spec(name).published_gguf.items() if f.gb is not None}
