"""Diffusion Models Evolution: the library the book's chapters call.

Kept light on import: each submodule pulls its own heavy dependencies (torch, diffusers). The one thing
`import lib` does is set the MPS environment (`lib.device.configure_mps_environment`, stdlib only): Python
runs this file before any `lib.*` module, so no module of the package can import torch before it.
"""

from lib.device import configure_mps_environment as _configure_mps_environment

__version__ = "0.2.0"

MPS_FALLBACK_ON = _configure_mps_environment()  # True: PyTorch's CPU fallback is on (DME_MPS_FALLBACK=1 asked)
