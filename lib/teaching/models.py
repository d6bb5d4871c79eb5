"""Tiny MLP denoisers for 2-D points and 8x8 digits: the same network serves diffusion and flow matching.

Input: the noisy point, a sinusoidal embedding of the time t in [0, 1] (Vaswani et al. 2017, as in the
DDPM U-Net) and, optionally, a learned class embedding with one extra "no class" entry for
classifier-free guidance (Ho & Salimans 2021). Output: a vector of the data's size (eps, x0, v or velocity).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def time_embedding(t: torch.Tensor, dim: int = 32) -> torch.Tensor:
    """Sinusoidal features of t in [0, 1], scaled by 1000 like the DDPM timestep embedding."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = 1000.0 * t.float().reshape(-1, 1) * freqs
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class MLPDenoiser(nn.Module):
    """An MLP on [x, time embedding, class embedding]; `n_classes` > 0 makes it class-conditional."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, n_classes: int = 0, t_dim: int = 32):
        super().__init__()
        self.dim, self.hidden, self.depth, self.n_classes, self.t_dim = dim, hidden, depth, n_classes, t_dim
        self.label_emb = nn.Embedding(n_classes + 1, 16) if n_classes else None  # index n_classes = no class
        width = dim + t_dim + (16 if n_classes else 0)
        layers: list[nn.Module] = []
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        layers.append(nn.Linear(width, dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        parts = [x, time_embedding(t, self.t_dim)]
        if self.label_emb is not None:
            if labels is None:  # unconditional: every sample gets the "no class" entry
                labels = torch.full((x.shape[0],), self.n_classes, dtype=torch.long)
            parts.append(self.label_emb(labels))
        return self.net(torch.cat(parts, dim=1))

    @property
    def null_label(self) -> int:
        return self.n_classes


def n_parameters(model: nn.Module) -> int:
    """Number of trainable weights."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
