"""UNet-mini, chapter 2's cross-attention counterpart of SD3-mini (lib.miniature.trained.unet): the same size and
recipe, run by SD3's own pipeline, its committed study and the chapter's views of it (issue 11)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch

from lib.errors import RecordError, WeightsError
from lib.miniature import trained
from lib.miniature.trained import sd3, study, text, unet
from lib.miniature.trained.train import Plan, train_miniatures

STORED = trained.TRAINED_DIR


def test_unet_mini_has_sd3_minis_parameter_count_within_one_percent():
    from diffusers import SD3Transformer2DModel

    def count(m):
        return sum(p.numel() for p in m.parameters())

    n_unet, n_sd3 = count(unet.new_denoiser()), count(SD3Transformer2DModel(**sd3.transformer_config()))
    assert abs(n_unet / n_sd3 - 1) < 0.01, (n_unet, n_sd3)


def test_the_denoiser_is_the_unet_called_as_sd3s_pipeline_calls_its_transformer():
    """The wrapper adds nothing: its output is the UNet's own, bit for bit, with the pooled vector as the class
    embedding input; that input is used (a different pooled vector changes the prediction)."""
    den = unet.new_denoiser().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 8, 8, generator=g)
    seq = torch.randn(2, text.CLIP_CONTEXT + text.T5_CONTEXT, den.config.joint_attention_dim, generator=g)
    pooled = torch.randn(2, 96, generator=g)
    t = torch.tensor([500.0, 20.0])
    with torch.no_grad():
        got = den(hidden_states=x, timestep=t, encoder_hidden_states=seq, pooled_projections=pooled).sample
        want = den.unet(x, t, encoder_hidden_states=seq, class_labels=pooled).sample
        other = den(hidden_states=x, timestep=t, encoder_hidden_states=seq, pooled_projections=-pooled).sample
    assert torch.equal(got, want) and got.shape == x.shape
    assert (got - other).abs().max() > 1e-4
    assert den(x, t, seq, pooled, return_dict=False)[0].shape == x.shape


def test_training_unet_alone_without_an_sd3_snapshot_names_what_to_run(tmp_path):
    with pytest.raises(WeightsError, match="--models sd3 unet"):
        train_miniatures(tmp_path / "out", tmp_path / "work", Plan.quick(models=("unet",)))


def test_a_missing_unet_snapshot_names_its_command(tmp_path):
    with pytest.raises(WeightsError, match="--models unet"):
        trained.trained_paths(tmp_path, ("unet",))


# ------------------------------------------------------------------------------------ the committed UNet-mini

def test_the_committed_unet_study_was_measured_on_the_committed_weights():
    data = json.loads((STORED / "adherence-unet.json").read_text())
    assert data["weights"] == trained.weights_digest(STORED / "unet") + "+" + trained.weights_digest(STORED / "sd3")
    assert len(data["rows"]) == len(study.unet_conditions()) and all(r["n"] == data["n"] >= 200 for r in data["rows"])
    log = json.loads((STORED / "training.json").read_text())
    assert log["unet"]["snapshot"] == trained.weights_digest(STORED / "unet")
    assert log["unet"]["steps"] == log["sd3"]["steps"] and log["unet"]["batch"] == log["sd3"]["batch"]


def test_the_committed_unet_mini_follows_single_object_prompts():
    """60 new single-object prompts through SD3's pipeline with the UNet. Measured on 200 images: colour 100 %,
    shape 98 %; with n = 60 a shape rate of 98 % falls below 80 % with a chance far under 0.1 %, so another CPU's
    last-bit differences, which move a few images, cannot fail this by luck."""
    from lib.miniature.trained import evaluate

    pipe = unet.unet_pipeline(STORED / "sd3", STORED / "unet")
    prompts = list(evaluate.prompts("single", 60, seed0=evaluate.EVAL_SEED0 + 777))
    images = evaluate.generate(pipe, prompts, height=32, width=32, num_inference_steps=28, guidance_scale=5.0,
                               max_sequence_length=text.T5_CONTEXT)
    scores = evaluate.adherence(images, prompts)
    assert images.shape == (60, 32, 32, 3) and images.std() > 10
    assert scores["colour"][0] >= 0.9 and scores["shape"][0] >= 0.8, scores


def test_chapter_two_views_read_both_committed_studies():
    from lib.chapters import adherence, attention_trained

    s, u = adherence.load(), attention_trained.load_unet()
    table = attention_trained.table(s["rows"], u["rows"])
    assert len(table) == len(study.unet_conditions()) and table.iloc[0]["images"] == u["n"]
    fig = attention_trained.attribute_figure(s["rows"], u["rows"])
    assert [t.name for t in fig.data] == list(attention_trained.NAMES.values())
    facts = attention_trained.facts(s, u, adherence.training_log())
    assert facts["ch2-tu-n"] == str(u["n"]) and "%" in facts["ch2-tu-relation-relation-unet"]
    assert facts["ch2-tu-relation-verdict"] in attention_trained.RELATION_VERDICT.values()


def _row(model: str, kind: str, rate: tuple[float, float, float], split: str = "train") -> dict:
    """A study row as study.run writes it, with one attribute."""
    return dict(asdict(study.Condition(kind, split=split, model=model)), n=200, scores={"all": list(rate)})


@pytest.mark.parametrize("unet_rate, words", [
    ((0.9, 0.85, 0.94), "the older design is the stronger one on every kind of prompt"),
    ((0.1, 0.06, 0.15), "the MMDiT is the stronger one on every kind of prompt"),
    ((0.5, 0.43, 0.57), "neither design is ahead on every kind of prompt"),
])
def test_the_verdict_follows_the_intervals(unet_rate, words):
    from lib.chapters import attention_trained

    sd3_rows = [_row("sd3-medium", k, (0.5, 0.45, 0.55)) for k in ("single", "relation")]
    unet_rows = [_row("unet-mini", k, unet_rate) for k in ("single", "relation")]
    assert attention_trained.overall_verdict(sd3_rows, unet_rows) == words


def test_a_unet_study_without_its_sd3_counterpart_or_corrupt_says_what_to_run(tmp_path):
    from lib.chapters import attention_trained

    with pytest.raises(RecordError, match="--models sd3 unet"):
        attention_trained.table([], [_row("unet-mini", "single", (0.9, 0.85, 0.94))])
    (tmp_path / "adherence-unet.json").write_text('{"rows": [')
    with pytest.raises(RecordError, match="train-miniatures --models unet"):
        attention_trained.load_unet(tmp_path)
