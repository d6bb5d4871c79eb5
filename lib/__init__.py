"""Diffusion Models Evolution: the library the book's chapters call.

Kept light on import: each submodule pulls its own heavy dependencies (torch, diffusers)."""

__version__ = "0.1.0"
