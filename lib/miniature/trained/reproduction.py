"""Does `train-miniatures` reproduce the committed scores? A retrain's adherence rows against the committed ones.

    python -m lib train-miniatures --out ~/dme-retrain        # hours on two CPU cores (README)
    python -m lib.miniature.trained.reproduction ~/dme-retrain [--write] [--remark "..."]

For every row of the three adherence studies (adherence.json, adherence-flux.json, adherence-unet.json) it prints
the committed rate with its 95 % Wilson interval, the retrain's rate, whether that rate lies inside the committed
interval, and the two-sided p of a pooled two-proportion z test of the two rates (each a share of n prompts). The
two checks answer different questions: two runs with the same true rate land outside each other's interval about
one time in six (`outside_chance`), so a few rows outside are expected; a small p says the two runs differ by more
than sampling explains.

`--write` stores the retrain as a record in precomputed/trained-miniatures/reproductions/ (its rows, training
seconds and losses, machine, versions, commit, and the digests of the committed weights it was compared with);
chapter 6 shows the stored ones. A retrain made in place (FOLDER is the committed folder, changed by the run) is
compared with the records of the git commit it was made from.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from lib.errors import DMEError, RecordError
from lib.miniature.trained import TRAINED_DIR

STUDIES = {"sd3": "adherence.json", "flux": "adherence-flux.json", "unet": "adherence-unet.json"}
MODEL_NAMES = {"sd3": "SD3-mini", "flux": "FLUX-mini", "unet": "UNet-mini"}
KEYS = ("model", "kind", "split", "steps", "guidance", "t5", "quantization")  # a row's condition (study.Condition)
# the plan fields that decide what is trained and measured: a retrain with others is not a reproduction
PLAN_FIELDS = ("eval_prompts", "full_study", "n_images", "n_pairs", "sd3_steps", "teacher_steps", "student_steps")
STAGES = ("vae", "sd3", "flux_vae", "flux_teacher", "flux_pairs", "flux_student", "unet")
REPRODUCTIONS = "reproductions"
Z95 = 1.959964  # the Wilson intervals' z (lib.shapes.validate.wilson_interval)


@dataclass(frozen=True)
class Row:
    """One condition: the committed and the reproduced share of prompts with every attribute right."""

    study: str  # "sd3", "flux" or "unet"
    label: str
    n: int
    committed: tuple[float, float, float]  # rate, 95 % interval
    reproduced: tuple[float, float, float]
    inside: bool  # the reproduced rate lies inside the committed interval
    p: float  # two-sided, pooled two-proportion z test


def outside_chance(z: float = Z95) -> float:
    """How often a second run with the same true rate falls outside the first run's interval (normal approximation):
    the difference of two independent rates has sqrt(2) times one rate's spread, so P(|Z| > z / sqrt(2))."""
    return math.erfc(z / 2)


def p_two(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p of the pooled two-proportion z test of k1/n1 against k2/n2 (1.0 when both are 0 or both all)."""
    pooled = (k1 + k2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 1.0
    z = (k1 / n1 - k2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def _key(row: dict) -> tuple:
    from lib.miniature.trained.study import Condition

    defaults = asdict(Condition("any"))  # rows stored before a field existed have its default
    return tuple(row.get(k, defaults[k]) for k in KEYS)


ROW_MODELS = {"sd3-medium": "SD3-mini", "flux-schnell": "FLUX-mini student", "flux-teacher": "FLUX-mini teacher",
              "unet-mini": "UNet-mini"}


def label(row: dict) -> str:
    """'FLUX-mini student, relation, held-out, 4 steps, CFG 1, Q4_0': the condition in words (T5 unless 'no T5')."""
    model, kind, split, steps, guidance, t5, quant = _key(row)
    parts = [ROW_MODELS.get(model, model), kind] + (["held-out"] if split == "heldout" else [])
    parts += [f"{steps} step{'s' * (steps != 1)}", f"CFG {guidance:g}"] + ([] if t5 else ["no T5"])
    return ", ".join(parts + ([quant] if quant != "none" else []))


def _read(path: Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text())
        assert isinstance(data, dict)
        return data
    except (OSError, ValueError, AssertionError) as err:
        raise RecordError(f"{path}: no readable {what} ({type(err).__name__}: {err}); a run of "
                          "`python -m lib train-miniatures --out FOLDER` writes it") from err


def _check_study(data: dict, path: Path) -> list[dict]:
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("n"), int) and r["n"] > 0
                                             and len(r.get("scores", {}).get("all", ())) == 3 for r in rows):
        raise RecordError(f"{path}: its rows lack n or an 'all' score [rate, low, high]; is it an adherence study "
                          "of `python -m lib train-miniatures`?")
    return rows


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def committed_studies(root: Path = TRAINED_DIR, retrained_in_place: bool = False) -> dict[str, dict]:
    """The committed studies: the files in `root`, or, for a retrain made in place, the versions of git's HEAD."""
    out = {}
    for study, name in STUDIES.items():
        if retrained_in_place:
            text = _git(root, "show", f"HEAD:./{name}")
            if text is None:
                raise RecordError(f"{root / name}: the retrain overwrote the committed study and git cannot give "
                                  "the committed one back; retrain into another folder with --out")
            try:
                out[study] = json.loads(text)
            except ValueError as err:
                raise RecordError(f"HEAD:{name}: unreadable ({err})") from err
        else:
            out[study] = _read(root / name, "committed adherence study")
        _check_study(out[study], root / name)
    return out


def resolve(folder: Path, committed_root: Path = TRAINED_DIR) -> tuple[Path, bool]:
    """The retrain's folder of snapshots and records (given it, or a clone's root), and whether it is the committed
    folder itself (a retrain made in place)."""
    folder = Path(folder).expanduser().resolve()
    if folder.name != TRAINED_DIR.name and (folder / "precomputed" / TRAINED_DIR.name).is_dir():
        folder = folder / "precomputed" / TRAINED_DIR.name
    if not folder.is_dir():
        raise RecordError(f"{folder}: no such folder; give the --out folder of `python -m lib train-miniatures`")
    return folder, folder == Path(committed_root).resolve()


def capture(folder: Path, remark: str = "", committed_root: Path = TRAINED_DIR) -> dict:
    """A reproduction record of the retrain in `folder` (its training.json and adherence studies), with the
    committed studies' digests it is to be compared with. Studies the retrain did not make (same `made` and weights
    as the committed ones: a run of fewer --models) are left out; RecordError if none is new, if the retrain used
    other settings than the committed run, or if the files are unreadable."""
    folder, in_place = resolve(folder, committed_root)
    training = _read(folder / "training.json", "training log")
    committed_training = (json.loads(_git(committed_root, "show", "HEAD:./training.json") or "null") if in_place
                          else _read(Path(committed_root) / "training.json", "committed training log"))
    committed_training = committed_training or {}
    plan, want = training.get("plan") or {}, committed_training.get("plan") or {}
    differ = [f"{k}: {plan.get(k)!r} (committed {want.get(k)!r})" for k in PLAN_FIELDS if plan.get(k) != want.get(k)]
    if differ:
        raise RecordError(f"{folder / 'training.json'}: not a reproduction, its plan differs from the committed "
                          f"run's ({'; '.join(differ)}); run `python -m lib train-miniatures --out FOLDER` without "
                          "--quick")
    committed = committed_studies(Path(committed_root), in_place)
    studies = {}
    for study, name in STUDIES.items():
        if not (folder / name).is_file():
            continue
        data = _read(folder / name, "adherence study")
        rows = _check_study(data, folder / name)
        base = committed[study]
        if (data.get("made"), data.get("weights")) == (base.get("made"), base.get("weights")):
            continue  # the committed study itself: this run did not retrain the model
        missing = {_key(r) for r in base["rows"]} - {_key(r) for r in rows}
        if missing:
            raise RecordError(f"{folder / name}: lacks {len(missing)} of the committed conditions, e.g. "
                              f"{label(dict(zip(KEYS, sorted(missing, key=str)[0])))}")
        studies[study] = {"made": data.get("made"), "weights": data.get("weights"), "n": data.get("n"),
                          "seconds": data.get("seconds"),
                          "committed": {"made": base.get("made"), "weights": base.get("weights")},
                          "rows": [{**{k: v for k, v in zip(KEYS, _key(r))}, "n": r["n"], "scores": r["scores"]}
                                   for r in rows]}
    if not studies:
        raise RecordError(f"{folder}: holds no retrained study (every adherence file is the committed one); run "
                          "`python -m lib train-miniatures --out FOLDER` first")
    stages = {s: {k: training[s][k] for k in ("seconds", "final_loss", "kept", "precision", "chip")
                  if k in training[s]} for s in STAGES if isinstance(training.get(s), dict)}
    return {"kind": "trained-miniatures reproduction", "made": training.get("made"),
            "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "commit": (_git(folder, "rev-parse", "HEAD") or "").strip() or None,
            "machine": training.get("machine"), "versions": training.get("versions"),
            "cpu_threads": training.get("cpu_threads"), "plan": {k: plan.get(k) for k in PLAN_FIELDS},
            "wall_seconds": training.get("wall_seconds_this_run"), "stages": stages, "remark": remark,
            "studies": studies}


def compare(record: dict, committed: dict[str, dict] | None = None) -> list[Row]:
    """Every row of the record's studies against the committed one of the same condition. RecordError when the
    committed weights are no longer those the record reproduced (they were retrained since: reproduce them anew)."""
    committed = committed if committed is not None else committed_studies()
    out = []
    for study, data in sorted(record["studies"].items(), key=lambda item: list(STUDIES).index(item[0])):
        base = committed[study]
        if base.get("weights") != data["committed"]["weights"]:
            raise RecordError(f"the reproduction of {record.get('made')} compared {STUDIES[study]} of weights "
                              f"{data['committed']['weights']}, but the committed weights are now "
                              f"{base.get('weights')}: retrain them again (README, 'Trained miniatures') or "
                              f"remove the stale record from {TRAINED_DIR / REPRODUCTIONS}")
        mine = {_key(r): r for r in data["rows"]}
        for r in base["rows"]:
            s = mine[_key(r)]
            a, b = tuple(r["scores"]["all"]), tuple(s["scores"]["all"])
            k1, k2 = round(a[0] * r["n"]), round(b[0] * s["n"])
            out.append(Row(study, label(r), r["n"], a, b, a[1] <= b[0] <= a[2], p_two(k1, r["n"], k2, s["n"])))
    return out


def summary(rows: list[Row], alpha: float = 0.05) -> dict[str, dict]:
    """Per study: rows, rows inside the committed intervals, rows that differ at p < alpha."""
    out: dict[str, dict] = {}
    for r in rows:
        s = out.setdefault(r.study, {"rows": 0, "inside": 0, "differ": 0})
        s["rows"] += 1
        s["inside"] += r.inside
        s["differ"] += r.p < alpha
    return out


def record_path(record: dict, root: Path = TRAINED_DIR) -> Path:
    """reproductions/<date>-<machine>.json, e.g. 2026-12-06-amd-epyc-24gb.json."""
    from lib.machine import machine_folder

    day = (record.get("made") or "unknown")[:10]
    return Path(root) / REPRODUCTIONS / f"{day}-{machine_folder(record.get('machine') or {})}.json"


def write(record: dict, root: Path = TRAINED_DIR) -> Path:
    """Store the record atomically (an interrupted write leaves the old file or none)."""
    from lib.records import atomic_write

    path = record_path(record, root)
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))
    return path


def stored(root: Path = TRAINED_DIR) -> list[dict]:
    """The stored reproduction records, oldest first; RecordError naming a corrupt one."""
    out = []
    for path in sorted((Path(root) / REPRODUCTIONS).glob("*.json")):
        data = _read(path, "reproduction record")
        if data.get("kind") != "trained-miniatures reproduction" or not isinstance(data.get("studies"), dict):
            raise RecordError(f"{path}: not a reproduction record; rewrite it with "
                              "`python -m lib.miniature.trained.reproduction FOLDER --write`")
        for study, s in data["studies"].items():
            if study not in STUDIES or not isinstance(s, dict) or "committed" not in s:
                raise RecordError(f"{path}: study {study!r} is not one of {sorted(STUDIES)} with its committed "
                                  "digests")
            _check_study(s, path)
        out.append(data)
    return out


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def report(record: dict, rows: list[Row]) -> str:
    """The table the command prints: one line per condition, then the counts per study."""
    m = record.get("machine") or {}
    precision = sorted({s.get("precision") for s in record["stages"].values() if s.get("precision")})
    lines = [f"retrain of {record.get('made')} at commit {(record.get('commit') or 'unknown')[:10]} on "
             f"{m.get('chip')} ({m.get('cpu_count')} cores, {', '.join(precision) or 'precision unknown'}), "
             f"versions {record.get('versions')}"]
    if record.get("remark"):
        lines.append(f"remark: {record['remark']}")
    lines.append(f"{'condition':52} {'committed [95 % interval]':28} {'retrain':9} inside  p")
    for r in rows:
        c = r.committed
        lines.append(f"{r.label:52} {_pct(c[0]):>8} [{_pct(c[1])}, {_pct(c[2])}]  {_pct(r.reproduced[0]):>8}  "
                     f"{'yes' if r.inside else 'NO ':6} {r.p:.3f}")
    for study, s in summary(rows).items():
        lines.append(f"{MODEL_NAMES[study]}: {s['inside']} of {s['rows']} rates inside the committed intervals, "
                     f"{s['differ']} differ at p < 0.05")
    lines.append(f"(two runs with the same true rate land outside each other's interval {outside_chance():.0%} of "
                 "the time)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.miniature.trained.reproduction",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?",
                        help="the retrain's --out folder (or a clone's root); without it, the stored reproductions")
    parser.add_argument("--write", action="store_true", help=f"store the record in {TRAINED_DIR / REPRODUCTIONS}")
    parser.add_argument("--remark", default="", help="what the record should say about the run (e.g. a shared CPU)")
    args = parser.parse_args(argv)
    try:
        if args.folder:
            records = [capture(args.folder, args.remark)]
            committed = committed_studies(TRAINED_DIR, resolve(args.folder)[1])
        else:
            records, committed = stored(), committed_studies()
        if not records:
            print(f"no stored reproduction in {TRAINED_DIR / REPRODUCTIONS}; give a retrain's folder", file=sys.stderr)
            return 2
        for record in records:
            print(report(record, compare(record, committed)))
        if args.write and args.folder:
            print("stored", write(records[0]))
    except DMEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
