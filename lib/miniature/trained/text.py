"""The trained miniatures' tokenizers and frozen text encoders: shapes-world words, a short CLIP context.

At full size CLIP reads 77 tokens and T5 256 (FLUX.1-schnell) or up to 512 (SD3): a long prompt loses its end in
CLIP but not in T5. The miniatures keep that ratio in the shapes world, whose captions run from 4 to 20 words:
CLIP reads `CLIP_CONTEXT` tokens (start and end marks included, so 6 words), T5 reads `T5_CONTEXT`. A caption
like "a red circle above a blue square" (7 words) reaches CLIP without its last word, and T5 whole.

The encoders are never trained, as SD3's and FLUX's are frozen during their training; here they are frozen
*random* networks (seeded), with one designed part. CLIP adds absolute position embeddings to its tokens, so its
random outputs tell words and their positions apart. T5 has no position embeddings: it knows word order only
through the relative-position biases of its attention (Raffel et al. 2020, sec. 2.1), learned in a real T5 and
near zero when random. A random T5 is a bag of words (measured: "circle" in "a red circle above a blue square"
and in "a red square above a blue circle" gives the same vector to float rounding), which cannot say which colour goes
with which shape. `word_order_bias` gives each of its heads one relative offset to attend to (the previous,
next, second previous, second next word), so each output mixes a word with its neighbours, as a trained T5's
does. What a pretrained encoder adds beyond that (meaning shared between words, e.g. that "crimson" is near
"red") has nothing to show in a world of 30 words, and is one thing that does not carry over to the real models.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

CLIP_CONTEXT = 8  # tokens, start and end marks included; CLIP-L/G at full size: 77
T5_CONTEXT = 24  # tokens with the end mark; the longest caption of the world takes 21 (tested)
SEED = 11
# T5's bidirectional relative-position buckets (transformers' T5Attention._relative_position_bucket, 32 buckets):
# an offset of -k words is bucket k, +k is bucket 16 + k (k < 8). One offset per head, as many heads as offsets.
WORD_ORDER_OFFSETS = (-1, +1, -2, +2)
WORD_ORDER_LOGIT = 10.0  # e^10: each head's attention all but one-hot on its offset, over content scores of order 1


def corpus() -> list[str]:
    """Captions of every category and split (600 seeds each): the text the tokenizers learn their pieces from."""
    from lib.shapes import CATEGORIES, sample_scene
    from lib.shapes.captions import caption

    return [caption(sample_scene(seed, split, cat)) for cat in CATEGORIES for split in ("train", "heldout")
            for seed in range(600)]


def write_tokenizers(out_dir: Path) -> Path:
    """out_dir/clip (CLIP BPE, CLIP_CONTEXT tokens) and out_dir/t5 (sentencepiece unigram) from the world's captions."""
    from lib.miniature.tokenizers import write_clip_tokenizer, write_t5_tokenizer

    text = corpus()
    write_clip_tokenizer(out_dir / "clip", corpus=text, max_length=CLIP_CONTEXT)
    write_t5_tokenizer(out_dir / "t5", corpus=text)
    return out_dir


def build_encoders(tokenizers_dir: Path) -> dict:
    """Seeded random CLIP-L, CLIP-G (with projections, as SD3's) and T5 encoders with their tokenizers, the
    miniature sizes of `lib.miniature.build`; FLUX's CLIP-L is the same network without its projection."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer, T5Config, \
        T5EncoderModel, T5Tokenizer

    from lib.miniature.build import CLIP_G, CLIP_L, T5

    torch.manual_seed(SEED)
    tok = CLIPTokenizer.from_pretrained(tokenizers_dir / "clip")
    tok_t5 = T5Tokenizer.from_pretrained(tokenizers_dir / "t5")
    for t in (tok, tok_t5):
        # transformers keeps how a tokenizer was loaded (True under HF_HUB_OFFLINE=1) and writes it into the saved
        # tokenizer_config.json, so a snapshot's files, and its digest, would depend on the environment of the run.
        # Pinned to the committed snapshots' value.
        t.init_kwargs["local_files_only"] = False

    def clip_config(cfg: dict) -> CLIPTextConfig:
        return CLIPTextConfig(**cfg, vocab_size=len(tok), max_position_embeddings=CLIP_CONTEXT, hidden_act="gelu",
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                              pad_token_id=tok.pad_token_id)

    clip_l = CLIPTextModelWithProjection(clip_config(CLIP_L)).eval()
    clip_g = CLIPTextModelWithProjection(clip_config(CLIP_G)).eval()
    clip_l_plain = CLIPTextModel(clip_config(CLIP_L)).eval()
    clip_l_plain.load_state_dict(clip_l.text_model.state_dict())  # FLUX reads the same CLIP-L
    t5 = T5EncoderModel(T5Config(**T5, vocab_size=len(tok_t5), decoder_start_token_id=0, pad_token_id=0,
                                 eos_token_id=1)).eval()
    word_order_bias(t5)
    for model in (clip_l, clip_g, clip_l_plain, t5):
        model.requires_grad_(False)
    return dict(clip_l=clip_l, clip_g=clip_g, clip_l_plain=clip_l_plain, t5=t5, tokenizer=tok, tokenizer_t5=tok_t5)


@torch.no_grad()
def word_order_bias(t5) -> None:
    """Set the relative-position bias of a T5 encoder (shared by all its layers) so that head h attends to the word
    at offset WORD_ORDER_OFFSETS[h]: a word's output then carries its neighbours, so "blue square" differs from
    "red square" (see the module's docstring)."""
    from transformers.models.t5.modeling_t5 import T5Attention

    attn = t5.encoder.block[0].layer[0].SelfAttention
    n_buckets, n_heads = attn.relative_attention_bias.weight.shape
    if n_heads != len(WORD_ORDER_OFFSETS):
        raise ValueError(f"T5 has {n_heads} heads; word_order_bias sets {len(WORD_ORDER_OFFSETS)}")
    buckets = T5Attention._relative_position_bucket(torch.tensor(WORD_ORDER_OFFSETS), bidirectional=True,
                                                    num_buckets=n_buckets,
                                                    max_distance=attn.relative_attention_max_distance)
    bias = torch.zeros(n_buckets, n_heads)
    bias[buckets, torch.arange(n_heads)] = WORD_ORDER_LOGIT
    attn.relative_attention_bias.weight.copy_(bias)


def encoder_digest(enc: dict) -> str:
    """A digest of the frozen encoders' weights: what a trained model's key records of its text encoders."""
    import hashlib

    h = hashlib.sha256()
    for name in ("clip_l", "clip_g", "t5"):
        for k, v in sorted(enc[name].state_dict().items()):
            h.update(f"{name}.{k}".encode())
            h.update(v.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@contextmanager
def quiet_truncation():
    """Silence the pipelines' warning that CLIP truncated a prompt: with CLIP_CONTEXT tokens that is by design."""
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was = dlog.get_verbosity(), tlog.get_verbosity()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    try:
        yield
    finally:
        dlog.set_verbosity(was[0])
        tlog.set_verbosity(was[1])
