"""Chapter views of the trained miniatures' adherence study (lib.miniature.trained.study): figures, tables, facts.

The study's numbers come from precomputed/trained-miniatures/adherence.json, written by `python -m lib
train-miniatures` on the committed weights; rates are shares of prompts whose image the scorer finds right, with
Wilson 95 % intervals. The scorer's validation (scorer_table) and the autoencoders' round trip (autoencoder_table)
are measured live, in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lib.errors import RecordError
from lib.chapters.views import LEGEND_BELOW

KIND_NAMES = {"single": "one object (colour + shape)", "relation": "two objects and a relation",
              "composition": "two or three objects, outlines, patterns, light"}
ATTRIBUTE_NAMES = {"all": "every attribute right", "colour": "colours", "shape": "shapes", "relation": "relation",
                   "binding": "colour-shape binding", "count": "object count"}


def load(root: Path | None = None) -> dict:
    """The stored SD3-mini study; RecordError naming the command that makes it when missing or unreadable."""
    return load_study("adherence.json", "adherence study", "", root)


def load_study(name: str, what: str, models: str, root: Path | None = None) -> dict:
    """A stored study of precomputed/trained-miniatures (`name`); RecordError naming what it is and the command that
    writes it (`train-miniatures` with `models`, e.g. "--models flux") when missing or unreadable."""
    from lib.miniature.trained import TRAINED_DIR

    path = (root or TRAINED_DIR) / name
    try:
        data = json.loads(path.read_text())
        rows = data["rows"]
        assert isinstance(rows, list) and all("scores" in r for r in rows)
    except (OSError, ValueError, KeyError, AssertionError, TypeError) as err:
        command = " ".join(("python -m lib train-miniatures", models)).strip()
        raise RecordError(f"{path}: no readable {what} ({type(err).__name__}); to write it, run `{command}`") from err
    return data


def pct(v: float) -> str:
    return f"{100 * v:.0f}"


def compare_words(a: dict, b: dict, attribute: str = "all") -> str:
    """How row a's rate stands against row b's: "higher than", "lower than" (95 % intervals apart) or "within the
    uncertainty of" (they overlap): the chapter's wording follows the measurement, not the expectation."""
    ra, rb = a["scores"][attribute], b["scores"][attribute]
    if ra[1] > rb[2]:
        return "higher than"
    if ra[2] < rb[1]:
        return "lower than"
    return "within the uncertainty of"


def rate_text(row: dict, attribute: str = "all") -> str:
    """'93 % (89-96 %)': the rate and its 95 % interval."""
    r, lo, hi = row["scores"][attribute]
    return f"{pct(r)}\u00a0% ({pct(lo)}–{pct(hi)}\u00a0%)"


def sweep_figure(rows: list[dict], key: str, attribute: str = "all") -> Any:
    """Share of prompts right against guidance or steps, one line per kind of prompt, 95 % intervals as bars."""
    import plotly.graph_objects as go

    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS

    fixed = {"guidance": ("steps", DEFAULT_STEPS), "steps": ("guidance", DEFAULT_GUIDANCE)}[key]
    fig = go.Figure()
    for kind in ("single", "relation"):
        sel = sorted((r for r in rows if r["kind"] == kind and r["split"] == "train" and r["t5"]
                      and r[fixed[0]] == fixed[1]), key=lambda r: r[key])
        x = [r[key] for r in sel]
        y = [100 * r["scores"][attribute][0] for r in sel]
        lo = [100 * (r["scores"][attribute][0] - r["scores"][attribute][1]) for r in sel]
        hi = [100 * (r["scores"][attribute][2] - r["scores"][attribute][0]) for r in sel]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=KIND_NAMES[kind],
                                 error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo),
                                 hovertemplate=f"{key} %{{x}}: %{{y:.0f}} % right<extra>{kind}</extra>"))
    title = {"guidance": "guidance scale", "steps": "Euler steps"}[key]
    fig.update_layout(xaxis_title=title, yaxis_title=f"% of images: {ATTRIBUTE_NAMES.get(attribute, attribute)}",
                      yaxis_range=[0, 100], height=400, template="plotly_white",
                      margin=dict(l=60, r=20, t=30, b=50), legend={**LEGEND_BELOW, "y": -0.25})
    fig.update_xaxes(tickvals=sorted({r[key] for r in rows}))
    return fig


def table(rows: list[dict], select, attributes=("all", "colour", "shape", "relation")) -> Any:
    """Rows chosen by select(row) -> label (None skips), each attribute as 'rate % (low-high %)'."""
    import pandas as pd

    out = []
    for r in rows:
        label = select(r)
        if label is not None:
            out.append({"condition": label, "images": r["n"],
                        **{ATTRIBUTE_NAMES.get(a, a): rate_text(r, a) if a in r["scores"] else "–"
                           for a in attributes}})
    return pd.DataFrame(out).set_index("condition")


def t5_table(rows: list[dict]) -> Any:
    """With and without T5, short prompts (one object) against long ones (relations, compositions)."""
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS

    def select(r):
        if r["split"] == "train" and r["steps"] == DEFAULT_STEPS and r["guidance"] == DEFAULT_GUIDANCE \
                and r["kind"] in KIND_NAMES:
            return f"{r['kind']}, {'with T5' if r['t5'] else 'CLIP only'}"
        return None

    found = [r for r in rows if select(r)]
    order = sorted(found, key=lambda r: (list(KIND_NAMES).index(r["kind"]), not r["t5"]))
    return table(order, select)


def heldout_table(rows: list[dict]) -> Any:
    """Held-in against held-out combinations (the world's `heldout` split) at the default settings."""
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS

    def select(r):
        if r["t5"] and r["steps"] == DEFAULT_STEPS and r["guidance"] == DEFAULT_GUIDANCE \
                and r["kind"] in ("single", "relation"):
            return f"{r['kind']}, {'combinations seen in training' if r['split'] == 'train' else 'held-out combinations'}"
        return None

    return table(sorted(rows, key=lambda r: (r["kind"], r["split"] != "train")), select)


def training_log(root: Path | None = None) -> dict:
    """precomputed/trained-miniatures/training.json: seconds, steps and parameters of each trained model."""
    from lib.miniature.trained import TRAINED_DIR

    path = (root or TRAINED_DIR) / "training.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RecordError(f"{path}: unreadable ({type(err).__name__}); to write it, run "
                          "`python -m lib train-miniatures`") from err


def sd3_facts(data: dict, log: dict, prefix: str = "ch4") -> dict[str, str]:
    """Glue values for chapter 4: the SD3-mini's size and training, and its adherence at the settings the text names."""
    from lib.miniature.trained.study import find

    rows = data["rows"]

    def r(**kw) -> dict:
        return find(rows, **kw)

    import re

    from lib.architectures.specs import CLIP_L
    from lib.config import PRESETS
    from lib.mac_memory import parameters
    from lib.miniature.trained import text
    from lib.shapes import HELDOUT_RELATION_COLOURS
    from lib.miniature.trained.study import DEFAULT_GUIDANCE, DEFAULT_STEPS

    sd3, vae = log["sd3"], log["vae"]
    minutes = (sd3["seconds"] + vae["seconds"]) / 60
    spec = PRESETS["sd3-medium"]
    words = {w.lower() for c in text.corpus() for w in re.findall(r"[A-Za-z]+", c)}
    facts = {
        f"{prefix}-tm-clip": str(text.CLIP_CONTEXT), f"{prefix}-tm-clip-words": str(text.CLIP_CONTEXT - 2),
        f"{prefix}-tm-t5": str(text.T5_CONTEXT), f"{prefix}-real-clip": str(CLIP_L["max_position_embeddings"]),
        f"{prefix}-real-t5": str(spec.max_sequence_length), f"{prefix}-real-t5-max": str(spec.max_sequence_length_limit),
        f"{prefix}-tm-words": str(len(words)),
        f"{prefix}-tm-ratio": f"{parameters()['sd3_transformer'] / sd3['parameters']:.0f}",
        f"{prefix}-adh-steps": str(DEFAULT_STEPS), f"{prefix}-adh-guidance": f"{DEFAULT_GUIDANCE:g}",
        f"{prefix}-adh-pairs": str(len(single_pairs("train"))), f"{prefix}-adh-pairs-heldout": str(len(single_pairs("heldout"))),
        f"{prefix}-adh-heldout-list": ", ".join(f"a {c} {s}" for c, s in single_pairs("heldout")),
        f"{prefix}-adh-heldout-relations": str(len(HELDOUT_RELATION_COLOURS)),
        f"{prefix}-tm-params": f"{sd3['parameters'] / 1e6:.1f}",
        f"{prefix}-tm-minutes": f"{minutes:.0f}",
        f"{prefix}-tm-steps": str(sd3["steps"]), f"{prefix}-tm-batch": str(sd3["batch"]),
        f"{prefix}-tm-images": str(log["plan"]["n_images"]),
        f"{prefix}-tm-p-t5": pct(sd3["p_drop_t5"]), f"{prefix}-tm-p-uncond": pct(sd3["p_uncond"]),
        f"{prefix}-tm-p-clip": pct(sd3["key"]["p_drop_clip"]),
        f"{prefix}-adh-n": str(data["n"]),
        f"{prefix}-adh-chip": data["machine"].get("chip", "unknown CPU"),
    }
    for kind in ("single", "relation"):
        facts[f"{prefix}-adh-{kind}"] = rate_text(r(kind=kind))
        facts[f"{prefix}-adh-{kind}-g1"] = rate_text(r(kind=kind, guidance=1.0))
        facts[f"{prefix}-adh-{kind}-s4"] = rate_text(r(kind=kind, steps=4))
        facts[f"{prefix}-adh-{kind}-not5"] = rate_text(r(kind=kind, t5=False))
        facts[f"{prefix}-adh-{kind}-heldout"] = rate_text(r(kind=kind, split="heldout"))
    for kind in ("single", "relation"):
        facts[f"{prefix}-adh-{kind}-vs-g1"] = compare_words(r(kind=kind), r(kind=kind, guidance=1.0))
        facts[f"{prefix}-adh-{kind}-vs-s4"] = compare_words(r(kind=kind), r(kind=kind, steps=4))
        facts[f"{prefix}-adh-{kind}-vs-not5"] = compare_words(r(kind=kind), r(kind=kind, t5=False))
    facts[f"{prefix}-adh-composition-vs-not5"] = compare_words(r(kind="composition"), r(kind="composition", t5=False))
    facts[f"{prefix}-adh-relation-rel"] = rate_text(r(kind="relation"), "relation")
    facts[f"{prefix}-adh-relation-rel-not5"] = rate_text(r(kind="relation", t5=False), "relation")
    facts[f"{prefix}-adh-composition"] = rate_text(r(kind="composition"))
    facts[f"{prefix}-adh-composition-not5"] = rate_text(r(kind="composition", t5=False))
    return facts


def single_pairs(split: str) -> list[tuple[str, str]]:
    """The colour-shape pairs single-object prompts are drawn from."""
    from lib.miniature.trained.evaluate import single_pairs as pairs

    return pairs(split)


def scorer_table(n: int = 100) -> tuple[Any, float]:
    """The scorer's validation (lib.shapes.validate) over every category, per attribute and condition: the share
    judged right with its n; and the lowest share in the table."""
    import pandas as pd

    from lib.shapes.validate import validation_records

    df = pd.DataFrame(validation_records(n))
    g = df.groupby(["attribute", "condition"], sort=False)["right"].agg(["mean", "count"])
    cells = {(a, c): f"{100 * m:.1f}\u00a0% of {int(k)}" for (a, c), (m, k) in g.iterrows()}
    conditions = list(dict.fromkeys(c for _, c in cells))
    attributes = list(dict.fromkeys(a for a, _ in cells))
    table = pd.DataFrame([{"attribute": a, **{c: cells.get((a, c), "–") for c in conditions}} for a in attributes])
    return table.set_index("attribute"), float(g["mean"].min())


def autoencoder_table(n: int = 60, root: Path | None = None) -> tuple[Any, dict[str, dict[str, float]]]:
    """Chapter 4, "How often the prompt is followed": the trained autoencoders' ceiling
    (lib.miniature.trained.roundtrip). n new scenes of each category, scored as rendered and after SD3-mini's and
    FLUX-mini's autoencoders, per attribute the caption names ("x % of n"); and per column, each attribute's share
    right."""
    import pandas as pd

    from lib.miniature.trained import roundtrip, trained_paths

    paths = trained_paths(root)
    images, captions, tags = roundtrip.scenes(n)
    views = {"rendered": images, AUTOENCODERS["sd3"]: roundtrip.round_trip(paths.sd3 / "vae", images),
             AUTOENCODERS["flux"]: roundtrip.round_trip(paths.flux / "vae", images)}
    shares, cells = {}, {}
    for column, imgs in views.items():
        got = roundtrip.shares(roundtrip.records(imgs, captions, tags))
        shares[column] = {a: m for a, (m, _) in got.items()}
        cells[column] = {a: f"{100 * m:.1f}\u00a0% of {k}" for a, (m, k) in got.items()}
    order = sorted(shares["rendered"], key=lambda a: (a == "all", a))
    table = pd.DataFrame([{"attribute": a, **{c: cells[c].get(a, "–") for c in views}} for a in order])
    return table.set_index("attribute"), shares


AUTOENCODERS = {"sd3": "SD3-mini's autoencoder", "flux": "FLUX-mini's autoencoder"}  # autoencoder_table's columns


def autoencoder_facts(shares: dict[str, dict[str, float]], prefix: str = "ch4") -> dict[str, str]:
    """Chapter 4's sentences on autoencoder_table's shares, per autoencoder ("sd3", "flux"): what a round trip keeps,
    e.g. "keeps every named attribute in 92.3 % of them and loses most often pattern: dots (right in 0.0 %)",
    or "keeps every named attribute of every scene"; and the values of an image and of each one's latent."""
    from lib.miniature.trained import IMAGE_SIZE, roundtrip
    from lib.miniature.trained import vae as V

    out = {f"{prefix}-ae-pixels": f"{IMAGE_SIZE} × {IMAGE_SIZE} × 3 = {IMAGE_SIZE ** 2 * 3:,}"}
    for key, config in (("sd3", V.VAE_CONFIG), ("flux", V.FLUX_VAE_CONFIG)):
        c, h, w = roundtrip.latent_shape(config, IMAGE_SIZE)
        out[f"{prefix}-ae-{key}-latent"] = f"{h} × {w} × {c} = {c * h * w:,}"
    for key, column in AUTOENCODERS.items():
        s = shares[column]
        weakest = roundtrip.weakest(s)
        out[f"{prefix}-ae-{key}-all"] = f"{100 * s['all']:.1f} %"
        out[f"{prefix}-ae-{key}-keeps"] = (
            "keeps every named attribute of every scene" if s["all"] == 1.0 else
            f"keeps every named attribute in {100 * s['all']:.1f} % of them and loses most often {weakest} "
            f"(right in {100 * s[weakest]:.1f} %)")
    return out
