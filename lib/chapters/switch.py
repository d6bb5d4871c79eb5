"""The one switch between live and stored execution for chapters 4-6, and where each chapter's records come from.

`DME_MODE` chooses:

- `auto` (default): live when the chapter's model weights are in the Hugging Face cache and an accelerator
  (MPS or CUDA) is present, or when `DME_MINIATURE=1` asks for the miniature models; stored otherwise, and
  always stored inside a book build (`DME_BOOK_BUILD=1`, which `lib.tools.sphinx_assets` sets for the kernels
  `jupyter-book build` starts): a build never starts model runs unless `DME_MODE=live` says so;
- `stored`: read the records in `precomputed/` (the published site, CI and the tests);
- `live`: run the models now, through `lib.pipelines`, into fresh records, then read those.

`DME_MINIATURE=1` makes live runs use the random-weight miniature models (`lib.miniature`), which need
neither weights nor an accelerator (`0` or unset: the real weights; any other value is an error). Both modes
hand the chapter the same thing: records (`lib.records`). A live run's records go to a temporary folder that
is removed when the kernel exits, unless `DME_LIVE_DIR` names a folder to keep them in.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from lib.errors import ConfigError

MODE_ENV = "DME_MODE"
MINIATURE_ENV = "DME_MINIATURE"
LIVE_DIR_ENV = "DME_LIVE_DIR"  # optional: keep live records here (a re-run then resumes) instead of a temp folder
MODES = ("auto", "stored", "live")
PRECOMPUTED = Path(__file__).resolve().parents[2] / "precomputed"
STORE_ENV = "DME_PRECOMPUTED"  # optional: read stored records from another folder (e.g. a run not yet committed)


def stored_root() -> Path:
    """Where stored records are read: $DME_PRECOMPUTED, else the repository's precomputed/."""
    return Path(os.environ[STORE_ENV]) if os.environ.get(STORE_ENV) else PRECOMPUTED

# The records each chapter reads (names of lib.pipelines.runs.precompute_sets) and the models they run.
CHAPTERS: dict[str, dict[str, tuple[str, ...]]] = {
    "ch4": {"models": ("sd3-medium",),
            "records": ("sd3-prompts-t5", "sd3-prompts-drop-t5", "sd3-staged-vs-unstaged", "sd3-guidance-sweep",
                        "sd3-step-sweep")},
    "ch5": {"models": ("flux-schnell",),
            "records": ("flux-prompts", "flux-step-sweep", "flux-staged-vs-unstaged")},
    "ch6": {"models": ("sd3-medium", "flux-schnell"), "records": ("compare", "benchmark")},
}


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def requested_mode() -> str:
    """DME_MODE as given (default auto); anything else raises ConfigError listing the modes."""
    mode = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ConfigError(f"{MODE_ENV}={mode!r} is not a mode; use one of {', '.join(MODES)}")
    return mode


def miniature_requested() -> bool:
    """True when DME_MINIATURE asks live runs to use the random-weight miniature models; a value that is
    neither on (1, true, yes, on) nor off (0, false, no, off, empty) raises ConfigError rather than guessing."""
    value = os.environ.get(MINIATURE_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ConfigError(f"{MINIATURE_ENV}={value!r} is neither on nor off; use {MINIATURE_ENV}=1 for the miniature "
                          f"models or {MINIATURE_ENV}=0 (or unset it) for the real weights")
    return value in _TRUE


def weights_in_cache(models: tuple[str, ...]) -> bool:
    """True when every model's default weights (for FLUX: snapshot + GGUF file) are in the Hugging Face cache."""
    from lib.config import DiffusionConfig
    from lib.errors import WeightsError
    from lib.weights import from_cache

    try:
        for model in models:
            from_cache(DiffusionConfig(model, "a weights check"))
    except WeightsError:
        return False
    return True


def accelerator_present() -> bool:
    """True when MPS or CUDA can run the models (probed the way lib.device picks a device)."""
    from lib.device import pick_device

    return pick_device(None).type != "cpu"


def environment_mode() -> str:
    """The mode the environment asks for: DME_MODE, except that `auto` means `stored` inside a book build
    (DME_BOOK_BUILD=1: set by lib.tools.sphinx_assets for the build's kernels, and by the tests' conftest.py)."""
    from lib.figures import in_book_build

    mode = requested_mode()
    return "stored" if mode == "auto" and in_book_build() else mode


def resolve_mode(models: tuple[str, ...], mode: str | None = None, miniature: bool | None = None,
                 weights: Callable[[tuple[str, ...]], bool] = weights_in_cache,
                 accelerator: Callable[[], bool] = accelerator_present) -> str:
    """'live' or 'stored' for a chapter running `models`: `mode` if given, else the environment's (DME_MODE, stored
    for `auto` inside a book build), `auto` resolved by probing miniature request, weights and accelerator."""
    mode = mode or environment_mode()
    miniature = miniature_requested() if miniature is None else miniature
    if mode in ("stored", "live"):
        return mode
    if miniature:
        return "live"
    return "live" if weights(models) and accelerator() else "stored"


def live_dir(chapter: str, miniature: bool) -> Path:
    """Where a live run writes its records: $DME_LIVE_DIR/<kind>/<chapter> (kept, a re-run resumes), else a
    fresh temp folder removed when this process exits (the chapter reads its images until then)."""
    kind = "miniature" if miniature else "weights"
    if os.environ.get(LIVE_DIR_ENV):
        return Path(os.environ[LIVE_DIR_ENV]) / kind / chapter
    folder = Path(tempfile.mkdtemp(prefix=f"dme-live-{chapter}-{kind}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def run_live(names: tuple[str, ...], out: Path, miniature: bool, seed: int = 42) -> None:
    """Generate the named record sets now (as `python -m lib precompute` does), finishing each record."""
    from lib.pipelines.runs import precompute_sets, run_set

    sets = {s.name: s for s in precompute_sets(miniature, seed)}
    unknown = [n for n in names if n not in sets]
    if unknown:
        raise ConfigError(f"no run set named {', '.join(unknown)}; known: {', '.join(sets)}")
    for name in names:
        # a live folder is scratch space: a record of other settings there is replaced, not refused
        run_set(sets[name], out, overwrite=True)


def chapter_spec(chapter: str) -> dict[str, tuple[str, ...]]:
    """The models and records of a chapter; ConfigError for an unknown chapter."""
    if chapter not in CHAPTERS:
        raise ConfigError(f"unknown chapter {chapter!r}; known: {', '.join(CHAPTERS)}")
    return CHAPTERS[chapter]
