"""GGUF for FLUX: block quantizers (gguf-py's plus our K-quants), BFL key names, writing and loading.

Published FLUX.1 GGUF files (city96) hold the transformer under Black Forest Labs' key names, big
matrices block-quantized in llama.cpp's formats; this package writes such files and loads them into
diffusers with the weights kept quantized.
"""

from lib.gguf.loader import load_flux_transformer_gguf
from lib.gguf.quants import BITS_PER_WEIGHT, QTYPES
from lib.gguf.writer import write_flux_gguf

__all__ = ["BITS_PER_WEIGHT", "QTYPES", "load_flux_transformer_gguf", "write_flux_gguf"]
