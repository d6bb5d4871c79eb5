"""Cross-attention leaves the text untouched; joint attention updates it from the image (tiny real blocks)."""

import torch

from lib.architectures import attention_demo as demo


def test_cross_attention_text_is_unchanged_by_the_image():
    a, b = demo.run_cross(1), demo.run_cross(2)
    assert torch.equal(a.text_into_block2, b.text_into_block2)
    _, (text, _), _ = demo.inputs(1)
    assert torch.equal(a.text_into_block2, text)
    assert demo.text_change(demo.run_cross) == 0.0


def test_joint_attention_text_changes_with_the_image():
    assert demo.text_change(demo.run_joint) > 1e-3


def test_attention_maps_have_the_expected_quadrants():
    cross = demo.run_cross(1).maps
    assert cross[1].shape == (demo.N_IMAGE, demo.N_TEXT)  # image queries, text keys only
    joint = demo.run_joint(1).maps[0]
    n = demo.N_IMAGE + demo.N_TEXT
    assert joint.shape == (n, n)
    assert joint[demo.N_IMAGE:, :demo.N_IMAGE].sum() > 0  # text queries attend to image keys
    assert torch.allclose(joint.sum(-1), torch.ones(n))


def test_recording_restores_the_real_attention_function():
    import torch.nn.functional as F

    real = F.scaled_dot_product_attention
    with demo.recording_attention([]):
        assert F.scaled_dot_product_attention is not real
    assert F.scaled_dot_product_attention is real
