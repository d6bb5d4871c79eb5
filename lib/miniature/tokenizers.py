"""Local CLIP and T5 tokenizers for the miniature models: built from nothing, no download.

The real SD3/FLUX snapshots ship CLIP BPE tokenizers (vocab.json + merges.txt) and a T5 sentencepiece
unigram tokenizer. We build small ones of the same kinds so the pipelines run the same tokenization code.
Given a `vocab_size`, the same tokenizers are padded to the real vocabularies' sizes (CLIP 49408 ids, T5
32000 pieces) with filler entries, for the full-size rehearsal (`lib.rehearsal`): the learned part, and so
the miniature's files, stay as they are.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

# A few sentences to learn merges and unigram pieces from; the benchmark prompts' words appear here so
# that miniature prompts split into real pieces rather than single characters.
CORPUS = [
    "a photograph of an astronaut riding a horse on the moon",
    "a red cube on top of a blue sphere, to the left of a green cone",
    "a neon sign that says diffusion in a rainy street at night",
    "an oil painting of a lighthouse in the style of van gogh",
    "a cat wearing a wizard hat reading a book next to a teapot and three candles",
    "the quick brown fox jumps over the lazy dog",
    "a portrait photo of an old fisherman, studio lighting, detailed skin",
    "a watercolor landscape with mountains, a river and a small wooden house",
    "text rendering, photorealism, spatial reasoning, artistic style, compositional complexity",
    "abcdefghijklmnopqrstuvwxyz 0 1 2 3 4 5 6 7 8 9 . , ! ? : ; ' \" ( ) - + = / & % $ #",
]

CLIP_MAX_LENGTH = 77  # CLIP's context length; SD3 and FLUX pipelines read tokenizer.model_max_length
CLIP_BOS, CLIP_EOS = "<|startoftext|>", "<|endoftext|>"
N_CLIP_MERGES = 200


def _clip_merges(words: list[str], n_merges: int) -> list[tuple[str, str]]:
    """Learn BPE merges on the corpus (Sennrich et al. 2016), words ending in '</w>' as CLIP's BPE does."""
    from collections import Counter

    vocab = Counter(tuple(w[:-1]) + (w[-1] + "</w>",) for w in words)
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter = Counter()
        for word, freq in vocab.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])  # sorted first: ties break deterministically
        merges.append(best)
        merged = Counter()
        for word, freq in vocab.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        vocab = merged
    return merges


def _filler_merges(alphabet: list[str], tokens: set[str], n: int) -> list[tuple[str, str]]:
    """`n` more valid merges, each joining two alphabet symbols into a token not yet in `tokens` (ranked last)."""
    out: list[tuple[str, str]] = []
    for a in alphabet:
        for b in alphabet:
            if len(out) == n:
                return out
            if a + b not in tokens:
                out.append((a, b))
    raise ValueError(f"cannot add {n} filler merges: only {len(out)} byte pairs are free")


def write_clip_tokenizer(out_dir: Path, vocab_size: int | None = None, corpus: list[str] | None = None,
                         max_length: int = CLIP_MAX_LENGTH) -> Path:
    """Save a CLIPTokenizer whose byte-level alphabet covers any text (no <unk>), CLIP's 77-token context.

    `corpus` (default CORPUS): the sentences its merges are learned from; `max_length`: its context (the
    trained miniatures give CLIP a short one, so that long prompts lose their end as at full size).

    `vocab_size` (e.g. CLIP's 49408): pad the learned merges with filler merges until the vocabulary has
    that many ids, the two special tokens last as in CLIP (49406, 49407); None: the miniature's vocabulary."""
    import re

    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    alphabet = sorted(ByteLevel.alphabet())  # the 256 printable stand-ins for bytes (GPT-2 byte encoder)
    words = [w for s in (CORPUS if corpus is None else corpus) for w in re.findall(r"[a-z]+", s)]
    merges = _clip_merges(words, N_CLIP_MERGES)
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
    if vocab_size is not None:
        fillers = _filler_merges(alphabet, set(tokens), vocab_size - 2 - len(set(tokens)))
        merges += fillers
        tokens += ["".join(m) for m in fillers]
    vocab: dict[str, int] = {}
    for tok in tokens + [CLIP_BOS, CLIP_EOS]:
        vocab.setdefault(tok, len(vocab))
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (out_dir / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    tok = CLIPTokenizer(
        vocab=str(out_dir / "vocab.json"), merges=str(out_dir / "merges.txt"), model_max_length=max_length
    )
    tok.save_pretrained(out_dir)
    return out_dir


def clip_vocab_size() -> int:
    """Upper bound on the CLIP tokenizer's ids, for the text encoders' embedding tables."""
    return 2 * 256 + N_CLIP_MERGES + 2


T5_VOCAB = 300  # sentencepiece pieces, before T5's <extra_id_*> sentinels


def _filler_pieces(taken: set[str], n: int, below: float) -> list[tuple[str, float]]:
    """`n` more unigram pieces (lowercase letter pairs and triples, with and without the word-start mark),
    not in `taken`, each scored below `below` so that learned pieces win wherever they apply."""
    import itertools
    import string

    out: list[tuple[str, float]] = []
    for length in (2, 3):
        for letters in itertools.product(string.ascii_lowercase, repeat=length):
            for piece in ("\u2581" + "".join(letters), "".join(letters)):
                if len(out) == n:
                    return out
                if piece not in taken:
                    out.append((piece, below - 1.0 - len(out) * 1e-4))
    raise ValueError(f"cannot add {n} filler pieces: only {len(out)} are free")


def write_t5_tokenizer(out_dir: Path, extra_ids: int = 0, vocab_size: int | None = None,
                       corpus: list[str] | None = None) -> Path:
    """Save a T5 tokenizer: a sentencepiece unigram model (Kudo 2018) with T5's ids pad=0, eos=1, unk=2.

    Its normalizer lowercases (sentencepiece's nmt_nfkc_cf rule): trained on lowercase text, capitals
    would otherwise map to <unk>. `vocab_size` (e.g. T5's 32000 pieces, before the `extra_ids`
    sentinels): pad the learned pieces with low-scored filler pieces to that size; None: as learned."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    from transformers import T5Tokenizer

    out_dir.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter((CORPUS if corpus is None else corpus) * 4),
        model_writer=model,
        model_type="unigram",
        vocab_size=T5_VOCAB,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        normalization_rule_name="nmt_nfkc_cf",
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    proc = spm.SentencePieceProcessor(model_proto=model.getvalue())
    pieces = [(proc.id_to_piece(i), proc.get_score(i)) for i in range(proc.get_piece_size())]
    if corpus is not None:  # every word of a small corpus one piece (sentencepiece keeps fragments of words it
        # sees in few contexts), scored above any fragment so that the unigram Viterbi split prefers it
        import re

        taken, top = {p for p, _ in pieces}, max(sc for _, sc in pieces[3:])
        words = sorted({w.lower() for s in corpus for w in re.findall(r"[A-Za-z]+", s)})
        pieces += [("\u2581" + w, top + 1.0) for w in words if "\u2581" + w not in taken]
    if vocab_size is not None:
        pieces += _filler_pieces({p for p, _ in pieces}, vocab_size - len(pieces), min(sc for _, sc in pieces))
    proto = sentencepiece_model_pb2.ModelProto.FromString(model.getvalue())
    # The precompiled charsmap is how real T5 tokenizers carry their normalizer; transformers keeps it
    # through save_pretrained/from_pretrained (a plain tokenizers normalizer set afterwards is dropped).
    tok = T5Tokenizer(
        vocab=pieces,
        extra_ids=extra_ids,
        model_max_length=512,
        _spm_precompiled_charsmap=proto.normalizer_spec.precompiled_charsmap,
    )
    tok.save_pretrained(out_dir)
    return out_dir
