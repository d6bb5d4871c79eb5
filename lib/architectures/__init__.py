"""Chapter 2, "Architecture evolution": the UNet, DiT, MMDiT and FLUX denoisers computed from their real classes.

Modules, one idea each: `specs` (published configurations, as data with their source), `params`
(meta-device builds and parameter counts), `latent` (VAE downsampling, latent channels, patch tokens),
`quant_size` (GGUF file size per tensor), `flops` (cost per
denoising step), `attention_demo` (cross- vs joint attention on tiny real blocks), `treemap`,
`diagrams` and `timeline` (the chapter's figures).
"""
