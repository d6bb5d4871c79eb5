"""A full-size rehearsal: SD3 Medium and FLUX.1-schnell run through the library's real code path on random
weights of the real sizes, to measure time and memory on a machine that cannot download the real ones.

`snapshots` writes both diffusers repositories into a throwaway Hugging Face cache (configs, local
tokenizers at the real vocabulary sizes, bf16 safetensors with the real tensor names and shapes),
`gguf_random` the 4-bit GGUF transformer file city96 publishes, `run` runs each configuration in a fresh
process and prints what every stage cost. `python -m lib rehearse` (or `python -m lib.rehearsal`).
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """The `rehearse` verb: build or reuse the snapshots, run the configurations, print the summary."""
    from lib.rehearsal.run import main as run_main

    return run_main(argv)


__all__ = ["main"]
