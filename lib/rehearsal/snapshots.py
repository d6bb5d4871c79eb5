"""Snapshots of SD3 Medium and FLUX.1-schnell in a Hugging Face cache: the published layout, random weights.

Each snapshot holds what `lib.weights` and diffusers read from the real one: `model_index.json`,
`scheduler/scheduler_config.json`, every component's `config.json`, the tokenizers (made locally,
`lib.miniature.tokenizers`, at the real vocabulary sizes: CLIP 49408 ids, T5 32000 pieces + 100 sentinels)
and the weights as (sharded) bf16 safetensors with the real tensor names and shapes (`random_tensors`).
The component classes and configurations are the ones `lib.architectures.specs` records for each model;
`scale="tiny"` swaps in the miniature's widths and layer counts (`lib.miniature.build`) so tests can write
the same layout in seconds. FLUX's bf16 transformer is not written: a GGUF run never reads it and the
download command `lib.weights` prints skips it too (only `transformer/config.json` comes from that repo);
its GGUF file is `gguf_random`'s. SD3's `text_encoder_3` and FLUX's `text_encoder_2` are the same T5-XXL
encoder: one file, hard-linked into both caches.
"""

from __future__ import annotations

import json
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from lib.architectures import specs
from lib.architectures.params import build_meta
from lib.rehearsal import random_tensors as rt
from lib.rehearsal.hfcache import RepoWriter, fake_commit, snapshot_bytes
from lib.registry import PRESETS

WRITER_VERSION = "1"  # bump when a written file changes: the fake commit changes, old builds are replaced
SCALES = ("full", "tiny")
CLIP_VOCAB, T5_PIECES, T5_EXTRA_IDS = 49408, 32000, 100  # CLIP BPE ids; T5 sentencepiece pieces + sentinels
PIPELINES = {"sd3": "StableDiffusion3Pipeline", "flux": "FluxPipeline"}

# Config fields of the published config.json files that lib.architectures.specs does not keep (they do
# not change the architecture), reconstructed here: the token ids transformers 4 wrote for OpenAI's CLIP
# (eos 2 selects CLIP's legacy "argmax of the ids" pooling), and T5 v1.1's token and decoder fields.
_CLIP_EXTRA = {"bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1}
_T5_EXTRA = {"decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1, "num_decoder_layers": 24,
             "is_encoder_decoder": True, "use_cache": True}


def _tiny(component: specs.Component) -> dict:
    """The component's config at the miniature's widths and depths (vocabularies stay real)."""
    from lib.miniature import build as mb

    small = {"MMDiT": mb.SD3_TRANSFORMER, "FLUX transformer": mb.FLUX_TRANSFORMER, "CLIP-L": mb.CLIP_L,
             "CLIP-G": mb.CLIP_G, "T5-XXL": mb.T5, "VAE (16 ch)": mb.VAE}[component.name]
    return {**component.config, **{k: list(v) if isinstance(v, tuple) else v for k, v in small.items()}}


@dataclass(frozen=True)
class Part:
    """One component folder of a snapshot: its class, config and whether its weights are written."""

    subfolder: str
    library: str
    cls: str
    config: dict
    weights: bool = True

    @property
    def is_t5(self) -> bool:
        return self.cls == "T5EncoderModel"


def parts(family: str, scale: str = "full") -> list[Part]:
    """The model components of a family's snapshot, from lib.architectures.specs (shrunk when tiny)."""
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r}: use one of {SCALES}")
    arch = specs.MODELS[PRESETS[_model(family)].architecture]
    out = []
    for c in arch.components:
        config = _tiny(c) if scale == "tiny" else dict(c.config)
        library = "transformers" if c.role == "text encoder" else "diffusers"
        out.append(Part(c.subfolder, library, c.cls, config, weights=not (family == "flux" and c.role == "denoiser")))
    return out


def _model(family: str) -> str:
    return {"sd3": "sd3-medium", "flux": "flux-schnell"}[family]


def tokenizer_folders(family: str) -> dict[str, str]:
    """Tokenizer folder -> tokenizer class: one per text encoder (text_encoder_N -> tokenizer_N)."""
    return {p.subfolder.replace("text_encoder", "tokenizer"): "T5TokenizerFast" if p.is_t5 else "CLIPTokenizer"
            for p in parts(family) if p.library == "transformers"}


def model_index(family: str, scale: str = "full") -> dict:
    """model_index.json: the pipeline class and the (library, class) of every component."""
    import diffusers

    entries = {p.subfolder: [p.library, p.cls] for p in parts(family, scale)}
    entries.update({name: ["transformers", cls] for name, cls in tokenizer_folders(family).items()})
    entries["scheduler"] = ["diffusers", "FlowMatchEulerDiscreteScheduler"]
    return {"_class_name": PIPELINES[family], "_diffusers_version": diffusers.__version__,
            **dict(sorted(entries.items()))}


def scheduler_config(family: str) -> str:
    """scheduler/scheduler_config.json: the published values (kept in lib.miniature.build, shifts from the registry)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from lib.miniature import build as mb

    values = mb.SD3_SCHEDULER if family == "sd3" else mb.FLUX_SCHEDULER
    return FlowMatchEulerDiscreteScheduler(**values).to_json_string()


def meta_module(part: Part) -> torch.nn.Module:
    """The component's real class on the meta device: tensor names and shapes, no storage."""
    extra = {} if part.library == "diffusers" else _T5_EXTRA if part.is_t5 else _CLIP_EXTRA
    return build_meta(part.cls, {**part.config, **extra})


def checkpoint_tensors(part: Part, module: torch.nn.Module) -> list[rt.TensorSpec]:
    """The tensors the published checkpoint stores, by name."""
    # transformers 5 builds CLIPTextModel without its `text_model` wrapper; the published checkpoints were
    # saved by transformers 4, whose CLIPTextModel held a CLIPTextTransformer as `.text_model`.
    prefix = "text_model." if part.cls == "CLIPTextModel" and not hasattr(module, "text_model") else ""
    return rt.module_tensors(module, prefix)


def config_json(part: Part, module: torch.nn.Module) -> str:
    """The component's config.json as its library writes it, the published fields on top.

    transformers 5 writes `tie_word_embeddings: true` for any T5 config; the published T5 v1.1 config says
    false (its untied LM head is not part of an encoder), so the spec's fields are laid over the written ones."""
    if part.library == "diffusers":
        return module.to_json_string()
    import transformers

    extra = _T5_EXTRA if part.is_t5 else _CLIP_EXTRA
    cfg = getattr(transformers, "T5Config" if part.is_t5 else "CLIPTextConfig")(**part.config, **extra)
    fields = {**json.loads(cfg.to_json_string()), **part.config, **extra, "architectures": [part.cls],
              "dtype": "bfloat16"}
    return json.dumps(dict(sorted(fields.items())), indent=2) + "\n"


def write_tokenizers(folder: Path) -> dict[str, Path]:
    """CLIP (pad "<|endoftext|>"), CLIP as SD3's tokenizer_2 (pad "!", OpenCLIP's) and T5, at full vocabulary sizes."""
    from transformers import CLIPTokenizer

    from lib.miniature.tokenizers import write_clip_tokenizer, write_t5_tokenizer

    clip = write_clip_tokenizer(folder / "clip", vocab_size=CLIP_VOCAB)
    tok = CLIPTokenizer.from_pretrained(clip)
    tok.pad_token = "!"
    tok.save_pretrained(folder / "clip_pad_bang")
    t5 = write_t5_tokenizer(folder / "t5", extra_ids=T5_EXTRA_IDS, vocab_size=T5_PIECES)
    return {"clip": clip, "clip_pad_bang": folder / "clip_pad_bang", "t5": t5}


def _tokenizer_source(family: str, name: str, cls: str) -> str:
    if cls == "T5TokenizerFast":
        return "t5"
    return "clip_pad_bang" if family == "sd3" and name == "tokenizer_2" else "clip"


def commit(family: str, scale: str = "full") -> str:
    """The fake commit of a family's snapshot: fixed by the writer version, repo and scale."""
    return fake_commit(WRITER_VERSION, PRESETS[_model(family)].repo_id, scale)


def write_snapshot(cache: Path, family: str, scale: str = "full",
                   tokenizers: Callable[[], dict[str, Path]] | None = None, t5_from: Path | None = None,
                   log=print) -> Path:
    """Write one family's snapshot into the hub cache `cache` (reused when complete); returns its folder.

    `tokenizers`: returns the folders `write_tokenizers` made (called only when something is written);
    `t5_from`: a snapshot whose T5 encoder files are hard-linked instead of written again."""
    repo_id = PRESETS[_model(family)].repo_id
    repo = RepoWriter(cache, repo_id, commit(family, scale), {"writer_version": WRITER_VERSION, "scale": scale})
    if repo.is_complete():
        return repo.snapshot
    repo.start()
    with tempfile.TemporaryDirectory() as tmp:
        toks = tokenizers() if tokenizers else write_tokenizers(Path(tmp))
        repo.add_bytes("model_index.json", (json.dumps(model_index(family, scale), indent=2) + "\n").encode())
        repo.add_bytes("scheduler/scheduler_config.json", scheduler_config(family).encode())
        for name, cls in tokenizer_folders(family).items():
            src = toks[_tokenizer_source(family, name, cls)]
            for f in sorted(src.iterdir()):
                repo.add_bytes(f"{name}/{f.name}", f.read_bytes())
    for part in parts(family, scale):
        module = meta_module(part)
        repo.add_bytes(f"{part.subfolder}/config.json", config_json(part, module).encode())
        if not part.weights:
            continue
        linked = t5_from is not None and part.is_t5
        if linked:
            other = next(p for p in parts("sd3" if family == "flux" else "flux", scale) if p.is_t5).subfolder
            for f in sorted((t5_from / other).iterdir()):
                if f.name != "config.json":
                    repo.add_hardlink(f"{part.subfolder}/{f.name}", f)
        else:
            stem, limit = (("model", rt.TRANSFORMERS_SHARD) if part.library == "transformers"
                           else ("diffusion_pytorch_model", rt.DIFFUSERS_SHARD))
            seed = zlib.crc32(f"{part.cls}/{json.dumps(part.config, sort_keys=True)}".encode())
            rt.write_checkpoint(repo, part.subfolder, stem, checkpoint_tensors(part, module), limit, seed)
        log(f"  {repo_id}: {part.subfolder} {'linked' if linked else 'written'}")
    repo.finish({"files": snapshot_bytes(repo.snapshot)})
    return repo.snapshot


@dataclass(frozen=True)
class Rehearsal:
    """Where the written snapshots are, and how long writing them took (0 when all were reused)."""

    cache: Path
    sd3: Path
    flux: Path
    gguf: Path
    seconds: float


def write_all(cache: Path, scale: str = "full", log=print) -> Rehearsal:
    """Both snapshots and the GGUF file in the hub cache `cache`; what is complete is reused, not rewritten."""
    import time

    from lib.rehearsal.gguf_random import write_gguf_snapshot

    start = time.perf_counter()
    cache = Path(cache)
    with tempfile.TemporaryDirectory() as tmp:
        made: dict[str, dict[str, Path]] = {}

        def toks() -> dict[str, Path]:  # built once, and only when a snapshot is (re)written
            if not made:
                made["folders"] = write_tokenizers(Path(tmp))
            return made["folders"]

        flux = write_snapshot(cache, "flux", scale, toks, log=log)
        sd3 = write_snapshot(cache, "sd3", scale, toks, t5_from=flux, log=log)
    gguf = write_gguf_snapshot(cache, scale, log=log)
    return Rehearsal(cache, sd3, flux, gguf, time.perf_counter() - start)
