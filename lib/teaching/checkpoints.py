"""Train a teaching model once per machine: a checkpoint cache keyed on everything that decides the weights.

Chapters 1 and 3 train the same DDPM networks with the same function, recipe and seed, and the book build
and the test suite each execute both chapters. Training is deterministic for one kernel on one machine (the
same code, data, recipe and seed give bit-identical weights, see tests/test_teaching_checkpoints.py), so
the second training of a recipe can load the first one's weights instead. The key hashes the training
function's name, every argument (data and input models by their bytes), the source of the modules that
train, the torch version, the CPU kernel family and torch's thread count (which changes the time, not the
weights). The stored entry also keeps the seconds the training took when it ran, which is what a chapter
reports. Only lib.teaching.train's functions are accepted: their code is part of the key.

The cache lives in $DME_TEACHING_CACHE, else ~/.cache/dme/teaching; `DME_TEACHING_CACHE=off` trains every
time. Entries are written atomically (a temporary file renamed into place), so an interrupted run leaves
none half-written; an unreadable entry is trained again and replaced; a cache that cannot be written (a
read-only home, a full disk) costs a warning, never the result. Old entries are not evicted: rm -rf the
folder (about 3 MB) to clear it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import inspect
import os
import time
import warnings
from pathlib import Path
from typing import Callable

import torch

from lib.teaching.data import Dataset
from lib.teaching.models import MLPDenoiser

# The modules whose code decides a trained model's weights.
_SOURCES = ("train.py", "models.py", "flow.py", "schedules.py", "data.py")
_HERE = Path(__file__).parent


def cache_dir() -> Path | None:
    """The folder of the cache, or None when it is switched off."""
    value = os.environ.get("DME_TEACHING_CACHE", "")
    if value.lower() == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "dme" / "teaching"


def _shape(model: MLPDenoiser) -> list[int]:
    """The constructor arguments that rebuild `model`: MLPDenoiser(*shape)."""
    return [model.dim, model.hidden, model.depth, model.n_classes, model.t_dim]


def _feed(h: "hashlib._Hash", value: object) -> None:
    """Hash an argument by content: tensors by their bytes, datasets and models by their tensors."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"tensor{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    elif isinstance(value, MLPDenoiser):
        h.update(f"MLPDenoiser({_shape(value)})".encode())
        for name, tensor in value.state_dict().items():
            h.update(name.encode())
            _feed(h, tensor)
    elif isinstance(value, Dataset):
        h.update(f"Dataset({value.name})".encode())
        for part in (value.train, value.test, value.train_labels, value.test_labels):
            _feed(h, part)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        h.update(repr(value).encode())  # Recipe, NoiseSchedule: frozen dataclasses of plain fields
    elif value is None or isinstance(value, (bool, int, float, str)):
        h.update(repr(value).encode())
    else:
        raise TypeError(f"cannot key a checkpoint on a {type(value).__name__}")
    h.update(b"|")


def key(fn: Callable, *args, **kwargs) -> str:
    """The cache key of `fn(*args, **kwargs)` on this machine's torch and CPU kernels."""
    h = hashlib.sha256()
    h.update(f"{fn.__module__}.{fn.__qualname__}|torch {torch.__version__}|threads {torch.get_num_threads()}|".encode())
    h.update(torch.backends.cpu.get_cpu_capability().encode())
    for name in _SOURCES:
        h.update((_HERE / name).read_bytes())
    bound = inspect.signature(fn).bind(*args, **kwargs)  # f(d, r) and f(d, r, seed=0) are one call
    bound.apply_defaults()
    for name, value in bound.arguments.items():
        h.update(name.encode())
        _feed(h, value)
    return h.hexdigest()[:32]


def _load(path: Path) -> tuple[MLPDenoiser, list[float], float] | None:
    try:
        entry = torch.load(path, weights_only=True)
        with torch.random.fork_rng(devices=[]):  # the constructor's random init must not move the global RNG
            model = MLPDenoiser(*entry["shape"])
        model.load_state_dict(entry["state"])
    except Exception:  # a corrupt or foreign file: train again and replace it
        return None
    model.eval()
    return model, list(entry["history"]), float(entry["seconds"])


def _store(path: Path, model: MLPDenoiser, history: list[float], seconds: float) -> None:
    entry = {"shape": _shape(model),
             "state": model.state_dict(), "history": [float(v) for v in history], "seconds": float(seconds)}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(entry, tmp)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        warnings.warn(f"the trained weights were not cached ({err}); set DME_TEACHING_CACHE to a writable folder, "
                      "or to 'off'", stacklevel=3)


def trained(fn: Callable[..., tuple[MLPDenoiser, list[float]]], *args,
            **kwargs) -> tuple[tuple[MLPDenoiser, list[float]], float]:
    """((model, loss history), seconds the training took): `fn(*args, **kwargs)`, or its cached result.

    `fn` is one of lib.teaching.train's train_* functions. The seconds are those measured when the model
    was trained, on this machine (the cache is local), whether it ran now or in an earlier run. Training
    runs inside a forked torch RNG, so the global random state afterwards is the same whether the model was
    trained or loaded.
    """
    if getattr(fn, "__module__", None) != "lib.teaching.train":
        raise ValueError(f"checkpoints.trained takes lib.teaching.train's functions (their code is in the key), "
                         f"not {getattr(fn, '__qualname__', fn)!r}: call it directly")
    folder = cache_dir()
    path = None if folder is None else folder / f"{fn.__name__}-{key(fn, *args, **kwargs)}.pt"
    if path is not None and path.exists():
        hit = _load(path)
        if hit is not None:
            model, history, seconds = hit
            return (model, history), seconds
    with torch.random.fork_rng(devices=[]):
        start = time.perf_counter()
        model, history = fn(*args, **kwargs)
        seconds = time.perf_counter() - start
    if path is not None:
        _store(path, model, history, seconds)
    return (model, history), seconds
