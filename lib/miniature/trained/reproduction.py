"""Does `train-miniatures` reproduce the committed scores? A retrain's adherence rows against the committed ones.

    python -m lib train-miniatures --out ~/dme-retrain        # hours on two CPU cores (README)
    python -m lib.miniature.trained.reproduction ~/dme-retrain [--write [--replace]] [--remark "..."]
    python -m lib.miniature.trained.reproduction              # the stored reproductions and shorter trainings

For every condition of the three adherence studies (adherence.json, adherence-flux.json, adherence-unet.json) it
prints the committed rate with its 95 % Wilson interval, the retrain's rate, whether that rate lies inside the
committed interval, and the two-sided p of a pooled two-proportion test (lib.shapes.validate).

How to read them. Both runs score the same prompts with the same starting noise (lib.miniature.trained.evaluate
seeds both), so their outcomes are paired, while the test and the "outside about one time in six" figure
(`outside_chance`) assume two independent samples of prompts: with paired outcomes the rates agree more often, so
the test is conservative (a real difference gets a larger p) and a miss of the interval means a little more than
one time in six suggests. Over many conditions some p fall below 0.05 by chance alone (alpha times the number of
conditions are expected); a difference that survives the Bonferroni bound (alpha / conditions) is the one to trust.

A run of `train-miniatures --fraction F --out FOLDER --work WORK` (each denoiser trained for a fraction F of the
book's steps, all else as the book's) is compared the same way, as a *shorter training*: its p says what the lost
steps cost, and its record goes to precomputed/trained-miniatures/shorter-trainings/ (chapter 6 tabulates them).

`--write` stores a self-contained record in precomputed/trained-miniatures/reproductions/: both runs' rows, the
retrain's training seconds and losses, machine, versions and commit, and the digests of the committed weights it
was compared with. Chapter 6 shows the newest one, and says whether the weights in the tree are still those. A
retrain made in place (FOLDER is the committed folder, changed by the run) is compared with the records of the git
commit it was made from.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import asdict, astuple, dataclass
from datetime import datetime, timezone
from pathlib import Path

from lib.errors import DMEError, RecordError
from lib.machine import git, source_commit
from lib.miniature.trained import TRAINED_DIR
from lib.shapes.validate import outside_chance, two_proportion_p

STUDIES = {"sd3": "adherence.json", "flux": "adherence-flux.json", "unet": "adherence-unet.json"}
MODEL_NAMES = {"sd3": "SD3-mini", "flux": "FLUX-mini", "unet": "UNet-mini"}
ROW_MODELS = {"sd3-medium": "SD3-mini", "flux-schnell": "FLUX-mini student", "flux-teacher": "FLUX-mini teacher",
              "unet-mini": "UNet-mini"}
# the stages that train each study's denoisers, with the plan field of their steps
STUDY_STAGES = {"sd3": (("sd3", "sd3_steps"),), "flux": (("flux_teacher", "teacher_steps"),
                                                         ("flux_student", "student_steps")),
                "unet": (("unet", "sd3_steps"),)}
# the autoencoder each study's denoiser trains on: a reproduction keeps the committed one (train-miniatures' default)
AUTOENCODER = {"sd3": "vae", "flux": "flux_vae", "unet": "vae"}
# the plan fields that decide what is trained and measured: a retrain with others is not a reproduction
PLAN_FIELDS = ("eval_prompts", "full_study", "n_images", "n_pairs", "sd3_steps", "teacher_steps", "student_steps")
STAGES = ("vae", "sd3", "flux_vae", "flux_teacher", "flux_pairs", "flux_student", "unet")
# a run of `train-miniatures --fraction F` trains these for fewer steps; its record is kept apart (SHORTER)
STEP_FIELDS = ("sd3_steps", "teacher_steps", "student_steps")
REPRODUCTIONS, SHORTER = "reproductions", "shorter-trainings"
KIND, SHORTER_KIND = "trained-miniatures reproduction", "trained-miniatures shorter training"
FOLDERS = {KIND: REPRODUCTIONS, SHORTER_KIND: SHORTER}
ALPHA = 0.05
_MADE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$")
_TYPES = {"model": str, "kind": str, "split": str, "steps": int, "guidance": (int, float), "t5": bool,
          "quantization": str}


@dataclass(frozen=True)
class Row:
    """One condition: the committed and the reproduced share of prompts with every attribute right."""

    study: str  # "sd3", "flux" or "unet"
    label: str
    n: int
    committed: tuple[float, float, float]  # rate, 95 % interval
    reproduced: tuple[float, float, float]
    inside: bool  # the reproduced rate lies inside the committed interval
    p: float  # two-sided, pooled two-proportion test


def pct(v: float) -> str:
    """'67.5 %' (one decimal: rates of 200 prompts move in steps of 0.5 %)."""
    return f"{100 * v:.1f}\u00a0%"


def _key(row: dict) -> tuple:
    from lib.miniature.trained.study import condition

    return astuple(condition(row))


def label(row: dict) -> str:
    """'FLUX-mini student, relation, held-out, 4 steps, CFG 1, Q4_0': the condition in words (T5 unless 'no T5')."""
    from lib.miniature.trained.study import condition

    c = condition(row)
    parts = [ROW_MODELS.get(c.model, c.model), c.kind] + (["held-out"] if c.split == "heldout" else [])
    parts += [f"{c.steps} step{'s' * (c.steps != 1)}", f"CFG {c.guidance:g}"] + ([] if c.t5 else ["no T5"])
    return ", ".join(parts + ([c.quantization] if c.quantization != "none" else []))


# ------------------------------------------------------------------------------------------ reading and checking

def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


STUDY_ADVICE = "; is it an adherence study of `python -m lib train-miniatures`?"


def rows_of(rows, where: str, advice: str = STUDY_ADVICE) -> list[dict]:
    """A study's rows reduced to condition, n and the 'all' score, each checked; RecordError naming the first bad
    row (types, 0 <= low <= rate <= high <= 1, 0 < n < 10^6, one row per condition) and ending with `advice`."""
    from lib.miniature.trained.study import condition

    if not isinstance(rows, list) or not rows:
        raise RecordError(f"{where}: no rows (a list of conditions with their scores){advice}")
    out, seen = [], set()
    for i, row in enumerate(rows):
        problem = None
        if not isinstance(row, dict):
            problem = "not an object"
        else:
            bad = [k for k, t in _TYPES.items() if k in row and (not isinstance(row[k], t)
                                                                  or (t is not bool and isinstance(row[k], bool)))]
            scores = row.get("scores", row)  # a study's row keeps every attribute under scores; a record's 'all'
            triple = scores.get("all") if isinstance(scores, dict) else None
            n = row.get("n")
            if bad:
                problem = f"{', '.join(bad)} of the wrong type"
            elif "kind" not in row:
                problem = "no kind"
            elif not (isinstance(n, int) and not isinstance(n, bool) and 0 < n < 10**6):
                problem = f"n is {n!r}, not a count of prompts"
            elif not (isinstance(triple, list) and len(triple) == 3 and all(map(_number, triple))
                      and -1e-9 <= triple[1] <= triple[0] + 1e-9 and triple[1] - 1e-9 <= triple[0] <= triple[2] + 1e-9
                      and triple[2] <= 1 + 1e-9):
                problem = f"its 'all' score is {triple!r}, not [rate, low, high] within 0..1"
            elif _key(row) in seen:
                problem = "a second row of the same condition"
        if problem:
            raise RecordError(f"{where}: row {i}: {problem}{advice}")
        seen.add(_key(row))
        out.append({**asdict(condition(row)), "n": row["n"],
                    "all": [float(x) for x in triple]})
    return out


def _load(text: str, where: str, what: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError as err:
        raise RecordError(f"{where}: {what} is not JSON ({err})") from err
    if not isinstance(data, dict):
        raise RecordError(f"{where}: {what} is not a JSON object")
    return data


def _read(path: Path, what: str) -> dict:
    if path.exists() and not path.is_file():
        raise RecordError(f"{path}: a folder, not the file of the {what}")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(f"{path}: cannot read the {what} ({type(err).__name__}); a run of `python -m lib "
                          "train-miniatures --out FOLDER` writes it") from err
    return _load(text, str(path), what)


def _committed_file(root: Path, name: str, in_place: bool, what: str) -> dict:
    if not in_place:
        return _read(root / name, what)
    text = git(root, "show", f"HEAD:./{name}")
    if text is None:
        raise RecordError(f"{root / name}: the retrain overwrote the committed file and git cannot give it back; "
                          "retrain into another folder with `python -m lib train-miniatures --out FOLDER`")
    return _load(text, f"HEAD:{name}", what)


def committed_studies(root: Path = TRAINED_DIR, retrained_in_place: bool = False) -> dict[str, dict]:
    """The committed studies (made, weights, checked rows): the files in `root`, or, for a retrain made in place,
    the versions of git's HEAD."""
    out = {}
    for study, name in STUDIES.items():
        data = _committed_file(Path(root), name, retrained_in_place, "committed adherence study")
        out[study] = {"made": data.get("made"), "weights": data.get("weights"),
                      "rows": rows_of(data.get("rows"), str(Path(root) / name))}
    return out


def resolve(folder: Path, committed_root: Path = TRAINED_DIR) -> tuple[Path, bool]:
    """The retrain's folder of snapshots and records (given it, or a clone's root), and whether it is the committed
    folder itself (a retrain made in place)."""
    folder = Path(folder).expanduser().resolve()
    if folder.is_file():
        raise RecordError(f"{folder}: a file; give the --out folder of `python -m lib train-miniatures`")
    if folder.name != TRAINED_DIR.name and (folder / "precomputed" / TRAINED_DIR.name).is_dir():
        folder = folder / "precomputed" / TRAINED_DIR.name
    if not folder.is_dir():
        raise RecordError(f"{folder}: no such folder; give the --out folder of `python -m lib train-miniatures`")
    return folder, folder == Path(committed_root).resolve()


def _commit(training: dict, folder: Path) -> str | None:
    """The commit the retrain ran: training.json's (train-miniatures records it), else, for the trained folder of a
    checkout of this project, that checkout's HEAD; None otherwise (an --out folder elsewhere says nothing)."""
    if isinstance(training.get("commit"), str):
        return training["commit"]
    checkout = folder.parent.parent
    if folder.parent.name == "precomputed" and (checkout / "lib" / "miniature" / "trained" / "train.py").is_file():
        return source_commit(checkout)
    return None


# ------------------------------------------------------------------------------------------ capture and compare

def capture(folder: Path, remark: str = "", committed_root: Path = TRAINED_DIR) -> dict:
    """A self-contained reproduction record of the retrain in `folder`: its training.json and the studies it made
    anew, each with the committed rows and digests it is compared with. Studies the retrain did not make (same
    `made` and weights as the committed ones: a run of fewer --models) are left out. RecordError if none is new, if
    the retrain used other settings or new autoencoders, or if a file is unreadable or malformed."""
    folder, in_place = resolve(folder, committed_root)
    training = _read(folder / "training.json", "training log")
    committed_training = _committed_file(Path(committed_root), "training.json", in_place, "committed training log")
    plan, want = training.get("plan"), committed_training.get("plan")
    if not isinstance(plan, dict) or not isinstance(want, dict):
        where = folder if not isinstance(plan, dict) else committed_root
        raise RecordError(f"{Path(where) / 'training.json'}: no plan; is it the log of `python -m lib "
                          "train-miniatures`?")
    changed = [k for k in PLAN_FIELDS if plan.get(k) != want.get(k)]
    differ = [f"{k}: {plan.get(k)!r} (committed {want.get(k)!r})" for k in changed]
    # fewer steps and nothing else changed: a shorter training (train-miniatures --fraction), compared all the same
    shorter = bool(changed) and set(changed) <= set(STEP_FIELDS) and all(
        _count(plan.get(k)) and _count(want.get(k)) and plan[k] <= want[k] for k in STEP_FIELDS)
    if differ and not shorter:
        raise RecordError(f"{folder / 'training.json'}: not a reproduction, its plan differs from the committed "
                          f"run's ({'; '.join(differ)}); run `python -m lib train-miniatures --out FOLDER` without "
                          "--quick (or with --fraction alone, for a shorter training)")
    made = training.get("made")
    if not _utc(made):
        raise RecordError(f"{folder / 'training.json'}: 'made' is {made!r}, not a UTC time like 2026-12-06T17:59:42Z")
    for key, kind in (("machine", dict), ("versions", dict)):
        if not isinstance(training.get(key, {}), kind):
            raise RecordError(f"{folder / 'training.json'}: '{key}' is not an object")
    committed = committed_studies(Path(committed_root), in_place)
    studies, left_out = {}, []
    for study, name in STUDIES.items():
        path = folder / name
        if not path.exists():
            left_out.append(name)
            continue
        data = _read(path, "adherence study")
        rows = rows_of(data.get("rows"), str(path))
        base = committed[study]
        if (data.get("made"), data.get("weights")) == (base["made"], base["weights"]):
            left_out.append(name)  # the committed study itself: this run did not retrain the model
            continue
        stage = training.get(AUTOENCODER[study])
        if not (isinstance(stage, dict) and (stage.get("kept") is True
                                             or stage == committed_training.get(AUTOENCODER[study]))):
            raise RecordError(f"{path}: its model trained on a new autoencoder (--train-autoencoders); a reproduction "
                              "of the committed scores keeps the committed autoencoders (the default)")
        for name_, field in STUDY_STAGES[study]:
            entry = training.get(name_)
            if shorter and not (isinstance(entry, dict) and _count(entry.get("steps"))):
                raise RecordError(f"{folder / 'training.json'}: {name_} records no steps, so the run cannot be "
                                  "compared as a shorter training; retrain it with this library's train-miniatures")
            if isinstance(entry, dict) and "steps" in entry and entry["steps"] != plan.get(field):
                raise RecordError(f"{folder / 'training.json'}: {name_} trained {entry['steps']!r} steps, its plan "
                                  f"says {field} {plan.get(field)!r} (runs of other steps into one --out); retrain "
                                  "it into a folder of its own")
        mine = {_key(r): r for r in rows}
        for r in base["rows"]:
            if _key(r) not in mine:
                raise RecordError(f"{path}: lacks a committed condition ({label(r)}); retrain with this library's "
                                  "train-miniatures")
            if mine[_key(r)]["n"] != r["n"]:
                raise RecordError(f"{path}: {label(r)} was scored on {mine[_key(r)]['n']} prompts, the committed on "
                                  f"{r['n']}")
        studies[study] = {"made": data.get("made"), "weights": data.get("weights"), "seconds": data.get("seconds"),
                          "committed": base, "rows": [mine[_key(r)] for r in base["rows"]]}
    if not studies:
        raise RecordError(f"{folder}: holds no retrained study (every adherence file is missing or the committed "
                          "one); run `python -m lib train-miniatures --out FOLDER` first")
    stages = {s: {k: training[s][k] for k in ("seconds", "final_loss", "kept", "precision", "chip")
                  if k in training[s]} for s in STAGES if isinstance(training.get(s), dict)}
    record = {"kind": SHORTER_KIND if shorter else KIND, "made": made,
              "recorded": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "commit": _commit(training, folder), "machine": training.get("machine") or {},
              "versions": training.get("versions") or {}, "cpu_threads": training.get("cpu_threads"),
              "plan": {k: plan.get(k) for k in PLAN_FIELDS}, "committed_plan": {k: want.get(k) for k in PLAN_FIELDS},
              "wall_seconds": training.get("wall_seconds_this_run"), "stages": stages, "remark": str(remark),
              "left_out": left_out, "studies": studies}
    # what --write stores must read back: the checks of a stored record, on a copy (check normalises the rows)
    check(json.loads(json.dumps(record)), str(folder / "training.json"), record["kind"])
    return record


def compare(record: dict) -> list[Row]:
    """Every condition of the record's studies: its committed row against its reproduced one."""
    out = []
    for study in (s for s in STUDIES if s in record["studies"]):
        data = record["studies"][study]
        for a, b in zip(data["committed"]["rows"], data["rows"]):
            k1, k2 = round(a["all"][0] * a["n"]), round(b["all"][0] * b["n"])
            out.append(Row(study, label(a), a["n"], tuple(a["all"]), tuple(b["all"]),
                           a["all"][1] <= b["all"][0] <= a["all"][2], two_proportion_p(k1, a["n"], k2, b["n"])))
    return out


def current(record: dict, committed: dict[str, dict] | None = None) -> dict[str, bool]:
    """Per study of the record: whether the committed weights in this tree are still those it reproduced."""
    committed = committed if committed is not None else committed_studies()
    return {s: committed[s]["weights"] == d["committed"]["weights"] for s, d in record["studies"].items()}


def summary(rows: list[Row], alpha: float = ALPHA) -> dict[str, dict]:
    """Per study, in STUDIES' order: rows, rows inside the committed intervals, rows that differ at p < alpha."""
    out: dict[str, dict] = {}
    for r in rows:
        s = out.setdefault(r.study, {"rows": 0, "inside": 0, "differ": 0})
        s["rows"] += 1
        s["inside"] += r.inside
        s["differ"] += r.p < alpha
    return out


# ------------------------------------------------------------------------------------------ storing

def record_path(record: dict, root: Path = TRAINED_DIR) -> Path:
    """reproductions/<made>-<machine>.json, e.g. 20261206T175942Z-amd-epyc-24gb.json: one file per retrain
    (shorter-trainings/ for a shorter training)."""
    from lib.machine import machine_folder

    g = _MADE.match(record["made"]).groups()
    stamp = "".join(g[:3]) + "T" + "".join(g[3:]) + "Z"
    return Path(root) / FOLDERS[record["kind"]] / f"{stamp}-{machine_folder(record.get('machine') or {})}.json"


def write(record: dict, root: Path = TRAINED_DIR, replace: bool = False) -> Path:
    """Store the record atomically (an interrupted write leaves the old file or none); RecordError if a record of
    this retrain exists, unless `replace`."""
    from lib.records import atomic_write

    path = record_path(record, root)
    if path.exists() and not replace:
        raise RecordError(f"{path}: a record of this retrain exists; add --replace to rewrite it (its remark and "
                          "commit are replaced too)")
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n"))
    return path


def check(data: dict, where: str, kind: str = KIND) -> dict:
    """A stored record of `kind`, checked; RecordError naming what is wrong and how to make it anew."""
    redo = ("; rewrite it with `python -m lib.miniature.trained.reproduction FOLDER --write --replace` from the "
            "retrain's folder, or remove it")
    if data.get("kind") != kind or not isinstance(data.get("studies"), dict) or not data["studies"]:
        raise RecordError(f"{where}: not a {kind.removeprefix('trained-miniatures ')} record{redo}")
    if kind == SHORTER_KIND:
        plan, want = data.get("plan"), data.get("committed_plan")
        if not (isinstance(plan, dict) and isinstance(want, dict) and all(_count(plan.get(k)) and _count(want.get(k))
                                                                         for k in STEP_FIELDS)):
            raise RecordError(f"{where}: the steps of the shorter and of the committed training are not both "
                              f"recorded{redo}")
        if not (all(plan[k] <= want[k] for k in STEP_FIELDS) and any(plan[k] < want[k] for k in STEP_FIELDS)
                and all(plan.get(k) == want.get(k) for k in PLAN_FIELDS if k not in STEP_FIELDS)):
            raise RecordError(f"{where}: its plan is not the committed one with fewer steps{redo}")
    if not _utc(data.get("made")):
        raise RecordError(f"{where}: 'made' is {data.get('made')!r}, not a UTC time{redo}")
    if not isinstance(data.get("remark", ""), str) or not isinstance(data.get("commit"), (str, type(None))) or not (
            isinstance(data.get("left_out", []), list) and all(isinstance(x, str) for x in data.get("left_out", []))):
        raise RecordError(f"{where}: its remark, commit or list of studies left out is malformed{redo}")
    for key in ("machine", "versions", "stages"):
        if not isinstance(data.get(key), dict) or (key == "stages" and not all(isinstance(v, dict) for v in
                                                                                 data[key].values())):
            raise RecordError(f"{where}: '{key}' is not an object{redo}")
    try:  # the file name comes from 'made' and the machine (record_path)
        record_path(data)
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError):
        raise RecordError(f"{where}: its machine ({data.get('machine')!r}) does not name a chip and memory{redo}") \
            from None
    for name, stage in data["stages"].items():
        if "seconds" in stage and not (_number(stage["seconds"]) and stage["seconds"] >= 0):
            raise RecordError(f"{where}: stage {name!r} has seconds {stage['seconds']!r}, not a time{redo}")
        if "final_loss" in stage and not _number(stage["final_loss"]):
            raise RecordError(f"{where}: stage {name!r} has final loss {stage['final_loss']!r}, not a number{redo}")
    for study, s in data["studies"].items():
        if isinstance(s, dict) and s.get("seconds") is not None and not (_number(s["seconds"]) and s["seconds"] >= 0):
            raise RecordError(f"{where}: study {study!r} has seconds {s['seconds']!r}, not a time{redo}")
        if study not in STUDIES or not isinstance(s, dict) or not isinstance(s.get("committed"), dict):
            raise RecordError(f"{where}: study {study!r} is not one of {sorted(STUDIES)} with its committed rows{redo}")
        mine = rows_of(s.get("rows"), f"{where} ({study})", redo)
        base = rows_of(s["committed"].get("rows"), f"{where} ({study}, committed)", redo)
        if [_key(r) for r in mine] != [_key(r) for r in base] or [r["n"] for r in mine] != [r["n"] for r in base]:
            raise RecordError(f"{where}: the {study} rows do not pair one to one with the committed ones{redo}")
        s["rows"], s["committed"]["rows"] = mine, base
    return data


def _utc(v) -> bool:
    """'2026-12-06T17:59:42Z', a real time (not 2030-13-45T99:99:99Z)."""
    if not (isinstance(v, str) and _MADE.match(v)):
        return False
    try:
        datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def _count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def stored(root: Path = TRAINED_DIR, kind: str = KIND) -> list[dict]:
    """The stored records of `kind` (reproductions, or shorter trainings), oldest retrain first; RecordError naming
    a corrupt one."""
    out = []
    for path in (Path(root) / FOLDERS[kind]).glob("*.json"):
        out.append(check(_read(path, f"{kind.removeprefix('trained-miniatures ')} record"), str(path), kind))
    return sorted(out, key=lambda r: r["made"])


# ------------------------------------------------------------------------------------------ the command

def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def steps_text(record: dict) -> str:
    """The steps of the models the record retrained, e.g. 'SD3-mini 450 of 1800 steps, FLUX-mini teacher 375 of
    1500 and student 200 of 800, UNet-mini 450 of 1800'."""
    p, c = record["plan"], record["committed_plan"]
    parts = []
    for study in (s for s in STUDIES if s in record["studies"]):
        steps = [f"{'teacher ' if f == 'teacher_steps' else 'student ' if f == 'student_steps' else ''}"
                 f"{p.get(f)} of {c.get(f)}" for _, f in STUDY_STAGES[study]]
        parts.append(f"{MODEL_NAMES[study]} {' and '.join(steps)}")
    return ", ".join(parts) + " steps"


def report(record: dict, rows: list[Row], alpha: float = ALPHA) -> str:
    """The table the command prints: one line per condition, then the counts per study and how to read them."""
    m = record.get("machine") or {}
    precision = sorted({str(s["precision"]) for s in record["stages"].values() if s.get("precision")})
    lines = [f"retrain of {record['made']} at commit {(record.get('commit') or 'unknown')[:12]} on "
             f"{m.get('chip', 'an unrecorded chip')} ({m.get('cpu_count', '?')} cores, "
             f"{', '.join(precision) or 'precision unrecorded'}), versions {record.get('versions')}"]
    if record["kind"] == SHORTER_KIND:
        lines.append("a shorter training, not a reproduction: " + steps_text(record) + "; p says whether the "
                     "shorter training changed a rate")
    if record.get("remark"):
        lines.append(f"remark: {_printable(str(record['remark']))}")
    if record.get("left_out"):
        lines.append(f"not retrained in this run, left out: {', '.join(map(str, record['left_out']))}")
    lines.append(f"{'condition':56} {'committed [95 % interval]':28} {'retrain':9} inside  p")
    for r in rows:
        c = r.committed
        lines.append(f"{r.label:56} {pct(c[0]):>8} [{pct(c[1])}, {pct(c[2])}]  {pct(r.reproduced[0]):>8}  "
                     f"{'yes' if r.inside else 'NO ':6} {r.p:.3f}")
    for study, s in summary(rows, alpha).items():
        lines.append(f"{MODEL_NAMES[study]}: {s['inside']} of {s['rows']} rates inside the committed intervals, "
                     f"{s['differ']} differ at p < {alpha:g}")
    bound = alpha / max(1, len(rows))
    lines.append(f"how to read it: {alpha * len(rows):.1f} of {len(rows)} conditions fall below p < {alpha:g} by "
                 f"chance alone; below the Bonferroni bound {bound:.4f}: {sum(r.p < bound for r in rows)}. Independent "
                 f"samples land outside each other's interval {outside_chance():.0%} of the time; both runs score the "
                 "same prompts and seeds, so the test is conservative")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.miniature.trained.reproduction",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?",
                        help="the retrain's --out folder (or a clone's root); without it, the stored reproductions")
    parser.add_argument("--write", action="store_true", help=f"store the record in {TRAINED_DIR / REPRODUCTIONS} "
                        f"(a shorter training's in {TRAINED_DIR / SHORTER})")
    parser.add_argument("--replace", action="store_true", help="with --write: rewrite a stored record of this retrain")
    parser.add_argument("--remark", default="", help="with --write: what the record says about the run (e.g. a "
                                                     "shared CPU)")
    args = parser.parse_args(argv)
    if not args.folder and (args.write or args.replace or args.remark):
        parser.error("--write, --replace and --remark need the retrain's FOLDER")
    try:
        if args.folder:
            records = [capture(args.folder, args.remark)]
        else:
            records = stored() + stored(kind=SHORTER_KIND)
            if not records:
                raise RecordError(f"{TRAINED_DIR / REPRODUCTIONS}: no stored reproduction (nor shorter training); "
                                  "give a retrain's folder")
        for record in records:
            print(report(record, compare(record)))
        if args.folder and args.write:
            print("stored", write(records[0], replace=args.replace))
            folder, in_place = resolve(args.folder)
            if in_place:
                print("the retrain replaced the committed weights and studies in this tree; to restore them (the "
                      "record stays): git checkout HEAD -- " + " ".join(
                          f"precomputed/{TRAINED_DIR.name}/{p}" for p in ("sd3", "flux", "unet", "training.json",
                                                                          *STUDIES.values())))
    except DMEError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
