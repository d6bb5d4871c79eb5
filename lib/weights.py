"""Find the weights a config needs: the Hugging Face cache by repo id, local paths, or the miniatures.

Nothing here downloads: a reader downloads once with the `hf` command this module prints, so a
missing file, an offline machine or a gated repo ends in one `WeightsError` saying what to run,
never in a traceback from inside diffusers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from lib.config import DiffusionConfig, ModelSpec
from lib.errors import WeightsError
from lib.registry import block_type


@dataclass(frozen=True)
class WeightPaths:
    """Where one model's files are: a diffusers snapshot folder and, for GGUF FLUX, the transformer file."""

    snapshot: Path
    gguf: Path | None
    source: str  # "weights", "miniature", "trained-miniature" or "random-weights-full-size" (lib.rehearsal's)


def snapshot_folders(spec: ModelSpec, drop_t5: bool = False) -> tuple[str, ...]:
    """Component folders (each holding a config.json) a model's snapshot must have: its architecture's
    components in lib.architectures.specs, without T5 when it is dropped."""
    from lib.architectures.specs import MODELS

    return tuple(c.subfolder for c in MODELS[spec.architecture].components if not (drop_t5 and c.name == "T5-XXL"))


def _cache_dir() -> str | None:
    """The hub cache, read now (huggingface_hub reads HF_HOME only once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


# What `hf download` fetches of a FLUX repo: configs, tokenizers, scheduler, text encoders and VAE; the transformer
# folder only when no GGUF file replaces it. Never the whole repo: it also holds the single-file checkpoints
# (flux1-schnell.safetensors, as big as the transformer folder, and ae.safetensors) that diffusers does not read.
_FLUX_FILES = ("model_index.json", "scheduler/*", "text_encoder/*", "text_encoder_2/*", "tokenizer/*", "tokenizer_2/*",
               "vae/*")


def snapshot_patterns(spec: ModelSpec, quantization: str = "none") -> tuple[str, ...] | None:
    """The files of the diffusers repo a config needs (None: all of them); `hf download --include` fetches these,
    and the cache lookup asks for these alone (huggingface_hub 2.x otherwise reports a snapshot fetched with
    --include as incomplete, because it knows the repo's full file list)."""
    if spec.family != "flux":
        return None
    return _FLUX_FILES + (("transformer/config.json",) if quantization != "none" else ("transformer/*",))


def download_command(spec: ModelSpec, quantization: str = "none") -> str:
    """The exact steps that put this model's files into the cache: licence and login where the repo is gated,
    then the `hf download` command(s)."""
    if spec.family == "flux":
        keep = snapshot_patterns(spec, quantization)
        commands = [f"hf download {spec.repo_id} " + " ".join(f"--include '{k}'" for k in keep)]
        if quantization != "none":
            commands.append(f"hf download {spec.gguf_repo} {spec.quantizations[quantization]}")
    else:
        commands = [f"hf download {spec.repo_id}"]
    run = "run: " + "; ".join(commands)
    if spec.gated:
        return (f"accept the licence at https://huggingface.co/{spec.repo_id} (on the model page, signed in to "
                f"Hugging Face), log in on this machine with: hf auth login; then {run}")
    return run


def download_size(spec: ModelSpec, quantization: str = "none") -> tuple[int, str]:
    """Bytes `download_command` fetches, and their parts: the registry's published component sizes, else
    parameter counts x 2 bytes (the repos hold fp16/bf16 weights, marked ~), plus the GGUF file; configs and
    tokenizers (a few MB) are not counted."""
    from lib.architectures.specs import MODELS

    published = {d.subfolder: d.bytes for d in spec.downloads}
    total, parts = 0, []
    for c in MODELS[spec.architecture].components:
        if c.role == "denoiser" and quantization != "none":
            continue  # the GGUF file replaces the repo's transformer
        size = published.get(c.subfolder)
        if size is None:
            from lib.architectures.params import model_params

            size = model_params(spec.architecture)[c.name] * 2
        total += size
        parts.append(f"{c.subfolder} {'' if c.subfolder in published else '~'}{size / 1e9:.2f}")
    notes = ["~ parameter count x 2 bytes (fp16)"] if any("~" in p for p in parts) else []
    what = " + ".join(parts) + f" GB from {spec.repo_id}"
    if quantization != "none":
        from lib.plan import gguf_bytes

        size, recorded = gguf_bytes(spec, quantization)
        total += size
        what += f", {spec.quantizations[quantization]} {'' if recorded else '~'}{size / 1e9:.2f} GB"
        notes += [] if recorded else ["~ GGUF size by lib.gguf's size rule (no published size recorded)"]
    return total, "; ".join([what, *notes])


class _MissingWeights(WeightsError):
    """A WeightsError whose message is composed when it is shown: stating the download size may count parameters
    on the meta device (seconds), which a mere probe (lib.chapters.switch.weights_in_cache) should not pay."""

    def __init__(self, compose: Callable[[], str]) -> None:
        super().__init__()
        self._compose = compose
        self._message: str | None = None

    def __str__(self) -> str:
        if self._message is None:
            self._message = self._compose()
        return self._message

    def __repr__(self) -> str:
        return f"WeightsError({str(self)!r})"


def _fail(spec: ModelSpec, quantization: str, what: str) -> WeightsError:
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    hint = " This shell is offline (HF_HUB_OFFLINE is set): run it where the network is reachable." if offline else ""

    def compose() -> str:
        total, parts = download_size(spec, quantization)
        return (f"{what} for {spec.name}; to fix, {download_command(spec, quantization)}. "
                f"This downloads about {total / 1e9:.1f} GB ({parts}).{hint}")

    return _MissingWeights(compose)


def _check_snapshot(snapshot: Path, config: DiffusionConfig) -> list[str]:
    """Component folders the config needs that the snapshot lacks."""
    needed = snapshot_folders(config.spec, config.drop_t5)
    missing = [c for c in needed if not (snapshot / c / "config.json").is_file()]
    if not (snapshot / "model_index.json").is_file():
        missing.insert(0, "model_index.json")
    return missing


def from_cache(config: DiffusionConfig) -> WeightPaths:
    """The cached snapshot (and GGUF file) for a config's model, without touching the network."""
    from huggingface_hub import hf_hub_download, snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError

    spec, q = config.spec, config.quantization
    try:
        snapshot = Path(snapshot_download(spec.repo_id, local_files_only=True, cache_dir=_cache_dir(),
                                          allow_patterns=snapshot_patterns(spec, q)))
    except GatedRepoError as err:
        raise _fail(spec, q, f"{spec.repo_id} is gated and this account has no access") from err
    except (LocalEntryNotFoundError, OSError) as err:
        raise _fail(spec, q, f"{spec.repo_id} is not in the Hugging Face cache") from err
    missing = _check_snapshot(snapshot, config)
    if missing:
        raise _fail(spec, q, f"the cached {spec.repo_id} is incomplete (missing {', '.join(missing)})")
    gguf = None
    if spec.quantizations[q] is not None:
        try:
            gguf = Path(hf_hub_download(spec.gguf_repo, spec.quantizations[q], local_files_only=True,
                                        cache_dir=_cache_dir()))
        except (LocalEntryNotFoundError, OSError) as err:
            raise _fail(spec, q, f"{spec.gguf_repo}/{spec.quantizations[q]} is not in the Hugging Face cache") from err
    return WeightPaths(snapshot, gguf, weights_source(snapshot))


RANDOM_WEIGHTS_MARKER = "DME_RANDOM_WEIGHTS"  # written by lib.rehearsal into the snapshots it makes


def weights_source(snapshot: Path) -> str:
    """"random-weights-full-size" for a snapshot the rehearsal wrote (full-size layout, random weights: its
    images are noise and only its memory and times mean something), "weights" for a real one."""
    return "random-weights-full-size" if (snapshot / RANDOM_WEIGHTS_MARKER).is_file() else "weights"


def from_local(config: DiffusionConfig, snapshot: Path, gguf: Path | None = None) -> WeightPaths:
    """Local folders given by the user, checked for the components the config needs."""
    spec = config.spec
    if not snapshot.is_dir():
        raise WeightsError(f"{snapshot} is not a folder; pass a diffusers snapshot of {spec.repo_id} "
                           f"(e.g. made by: hf download {spec.repo_id} --local-dir {snapshot})")
    missing = _check_snapshot(snapshot, config)
    if missing:
        raise WeightsError(f"{snapshot} lacks {', '.join(missing)}: it is not a complete snapshot of {spec.repo_id}")
    if spec.quantizations[config.quantization] is not None:
        if gguf is None or not gguf.is_file():
            raise WeightsError(f"no GGUF transformer file at {gguf}; download it with: "
                               f"hf download {spec.gguf_repo} {spec.quantizations[config.quantization]}")
    return WeightPaths(snapshot, gguf, weights_source(snapshot))


def from_miniature(config: DiffusionConfig, paths: object | None = None) -> WeightPaths:
    """The miniature model of the config's family (built once by lib.miniature)."""
    if paths is None:
        from lib.miniature import ensure_miniatures

        paths = ensure_miniatures()
    family = config.spec.family
    snapshot = Path(getattr(paths, family))
    gguf = None
    if family == "flux" and config.quantization != "none":
        # The miniature has one file per block type: a published "_K_S" file's type picks its K type's file.
        gguf = Path(paths.gguf[block_type(config.quantization)])  # type: ignore[attr-defined]
    return WeightPaths(snapshot, gguf, "miniature")


def from_trained(config: DiffusionConfig, root: Path | None = None) -> WeightPaths:
    """The trained miniature of the config's family (committed under precomputed/trained-miniatures)."""
    from lib.miniature.trained import TRAINED_MODELS, trained_gguf, trained_paths

    if config.model not in TRAINED_MODELS:
        raise WeightsError(f"there is no trained miniature of {config.spec.name} yet (trained: "
                           f"{', '.join(TRAINED_MODELS)}); use its random-weight miniature (--miniature without --trained)")
    family = config.spec.family
    snapshot = Path(getattr(trained_paths(root, (family,)), family))
    gguf = None
    if family == "flux" and config.quantization != "none":  # as the random miniature: one file per block type
        gguf = trained_gguf(snapshot, block_type(config.quantization))
    return WeightPaths(snapshot, gguf, "trained-miniature")


def resolve_weights(config: DiffusionConfig, paths: object | None = None) -> WeightPaths:
    """WeightPaths for a config: given paths, the miniatures (trained or random), or the Hugging Face cache."""
    if isinstance(paths, WeightPaths):
        return paths
    if config.trained:
        return from_trained(config, paths if isinstance(paths, Path) else None)
    if config.miniature or (paths is not None and hasattr(paths, "gguf") and hasattr(paths, "sd3")):
        return from_miniature(config, paths)
    return from_cache(config)
