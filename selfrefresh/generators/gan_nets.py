"""Networks and losses of the recurrent conditional GAN (see :mod:`selfrefresh.generators.gan`).

* :class:`SequenceGenerator`: recurrent G. Per-step noise concatenated with a class embedding is
  fed to a GRU/LSTM whose initial state comes from a per-sequence latent; a linear read-out gives
  x_t. (B,) classes -> (B, T, F).
* :class:`ConvCritic`: 1-D dilated convolutions over time, mean-pooled, with a projection head
  for the class (Miyato & Koyama 2018): D(x, y) = w . h(x) + <e_y, h(x)>.
* :class:`RecurrentCritic`: bidirectional GRU critic with the same projection head.
* :func:`discriminator_loss`, :func:`generator_loss` for ``"ns" | "wgan-gp" | "hinge"``;
  :func:`gradient_penalty` (Gulrajani et al. 2017).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["SequenceGenerator", "ConvCritic", "RecurrentCritic", "discriminator_loss", "generator_loss",
           "gradient_penalty", "LOSSES"]

LOSSES = ("ns", "wgan-gp", "hinge")


class SequenceGenerator(nn.Module):
    """Recurrent conditional generator.

    Args:
        seq_len: T.  n_features: F.  num_classes: C (>= 1).
        hidden_size: recurrent units.  latent_size: per-sequence latent (initial state).
        noise_size: per-step noise.  embed_size: class embedding.  cell: ``"gru" | "lstm"``.
        num_layers: stacked recurrent layers.

    ``forward(classes (B,), z (B, latent)=None, noise (B, T, noise)=None) -> (B, T, F)``.
    """

    def __init__(self, seq_len: int, n_features: int, num_classes: int, hidden_size: int = 64,
                 latent_size: int = 16, noise_size: int = 8, embed_size: int = 16, cell: str = "gru",
                 num_layers: int = 2):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        self.seq_len, self.n_features, self.num_classes = seq_len, n_features, num_classes
        self.latent_size, self.noise_size, self.cell_type = latent_size, noise_size, cell
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embed = nn.Embedding(num_classes, embed_size)
        n_state = num_layers * hidden_size * (2 if cell == "lstm" else 1)
        self.init = nn.Sequential(nn.Linear(latent_size + embed_size, n_state), nn.Tanh())
        rnn = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn(noise_size + embed_size + latent_size, hidden_size, num_layers=num_layers,
                       batch_first=True)
        self.out = nn.Linear(hidden_size, n_features)

    def forward(self, classes: Tensor, z: Optional[Tensor] = None, noise: Optional[Tensor] = None) -> Tensor:
        B, dev = classes.shape[0], classes.device
        if z is None:
            z = torch.randn(B, self.latent_size, device=dev)
        if noise is None:
            noise = torch.randn(B, self.seq_len, self.noise_size, device=dev)
        e = self.embed(classes)
        s = self.init(torch.cat([z, e], -1)).view(B, -1, self.num_layers, self.hidden_size)
        s = s.permute(1, 2, 0, 3).contiguous()                   # (1 or 2, layers, B, H)
        state = s[0] if self.cell_type == "gru" else (s[0], s[1])
        T = noise.shape[1]
        inp = torch.cat([noise, e[:, None].expand(B, T, -1), z[:, None].expand(B, T, -1)], -1)
        h, _ = self.rnn(inp, state)
        return self.out(h)


def _sn(module: nn.Module, use: bool, name: str = "weight") -> nn.Module:
    # hook-based spectral norm: it re-assigns the weight with setattr before each forward, which
    # also keeps nn.GRU's flat weight list in sync (the parametrization API does not).
    return nn.utils.spectral_norm(module, name=name) if use else module


class _ProjectionHead(nn.Module):
    """h (B, H) -> score (B,): linear(h) + <embed(y), h>, optional minibatch-std feature."""

    def __init__(self, features: int, num_classes: int, spectral_norm: bool, minibatch_std: bool):
        super().__init__()
        self.minibatch_std = minibatch_std
        n = features + (1 if minibatch_std else 0)
        self.linear = _sn(nn.Linear(n, 1), spectral_norm)
        self.embed = _sn(nn.Embedding(num_classes, n), spectral_norm)

    def forward(self, h: Tensor, classes: Tensor) -> Tensor:
        if self.minibatch_std:
            std = h.std(dim=0, unbiased=False).mean() if h.shape[0] > 1 else h.new_zeros(())
            h = torch.cat([h, std.expand(h.shape[0], 1)], -1)
        return self.linear(h).squeeze(-1) + (self.embed(classes) * h).sum(-1)


class ConvCritic(nn.Module):
    """Dilated 1-D convolutional critic with a class-projection head.

    Args:
        n_features: channels per step of its input (F * pack).  num_classes: C.
        channels: conv width.  n_layers: conv layers, dilation 1, 2, 4, ...
        spectral_norm: spectral normalisation of every layer.  minibatch_std: add the batch std feature.

    ``forward(x (B, T, F'), classes (B,)) -> (B,)`` scores (logits for the ns loss).
    """

    recurrent = False

    def __init__(self, n_features: int, num_classes: int, channels: int = 64, n_layers: int = 4,
                 spectral_norm: bool = False, minibatch_std: bool = False):
        super().__init__()
        layers, c_in = [], n_features
        for i in range(n_layers):
            d = 2 ** i
            layers += [_sn(nn.Conv1d(c_in, channels, 3, padding=d, dilation=d), spectral_norm),
                       nn.LeakyReLU(0.2)]
            c_in = channels
        self.body = nn.Sequential(*layers)
        self.head = _ProjectionHead(channels, num_classes, spectral_norm, minibatch_std)

    def forward(self, x: Tensor, classes: Tensor) -> Tensor:
        h = self.body(x.transpose(1, 2)).mean(-1)
        return self.head(h, classes)


class RecurrentCritic(nn.Module):
    """Bidirectional GRU critic with a class-projection head (C-RNN-GAN style).

    A gradient penalty needs the double backward of the GRU, which fused cuDNN kernels lack:
    :func:`gradient_penalty` runs it with cuDNN disabled (slower, exact). Spectral norm + the hinge
    loss avoids the penalty altogether.
    """

    recurrent = True

    def __init__(self, n_features: int, num_classes: int, channels: int = 64, spectral_norm: bool = False,
                 minibatch_std: bool = False):
        super().__init__()
        self.rnn = nn.GRU(n_features, channels, batch_first=True, bidirectional=True)
        if spectral_norm:
            for name in ("weight_ih_l0", "weight_hh_l0", "weight_ih_l0_reverse", "weight_hh_l0_reverse"):
                _sn(self.rnn, True, name)
        self.head = _ProjectionHead(2 * channels, num_classes, spectral_norm, minibatch_std)

    def forward(self, x: Tensor, classes: Tensor) -> Tensor:
        h, _ = self.rnn(x)
        return self.head(h.mean(1), classes)


def discriminator_loss(loss: str, d_real: Tensor, d_fake: Tensor, real_target: Optional[Tensor] = None) -> Tensor:
    """Critic loss on scores of real and fake batches.

    ``ns``: BCE with logits, real target 1 (or ``real_target``, e.g. smoothed labels in [0.9, 1]),
    fake target 0.  ``wgan-gp``: E[D(fake)] - E[D(real)] (add the penalty separately).
    ``hinge``: E[relu(1 - D(real))] + E[relu(1 + D(fake))].
    """
    if loss == "ns":
        t = torch.ones_like(d_real) if real_target is None else real_target
        return (F.binary_cross_entropy_with_logits(d_real, t)
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    if loss == "wgan-gp":
        return d_fake.mean() - d_real.mean()
    if loss == "hinge":
        return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    raise ValueError(f"unknown GAN loss {loss!r}; choose one of {LOSSES}")


def generator_loss(loss: str, d_fake: Tensor) -> Tensor:
    """Generator loss: non-saturating -log sigmoid(D) for ``ns``, -E[D(fake)] for ``wgan-gp``/``hinge``."""
    if loss == "ns":
        return F.softplus(-d_fake).mean()
    if loss in ("wgan-gp", "hinge"):
        return -d_fake.mean()
    raise ValueError(f"unknown GAN loss {loss!r}; choose one of {LOSSES}")


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor,
                     alpha: Optional[Tensor] = None, target: float = 1.0) -> Tensor:
    """WGAN-GP penalty E[(|grad_x D(x_hat)|_2 - target)^2], x_hat = alpha real + (1 - alpha) fake.

    Args:
        critic: x (B, ...) -> scores (B,) (bind the classes beforehand).
        real, fake: (B, ...) same shape.  alpha: (B,) mixing weights (default uniform random).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake shapes differ: {tuple(real.shape)} vs {tuple(fake.shape)}")
    B = real.shape[0]
    if alpha is None:
        alpha = torch.rand(B, device=real.device, dtype=real.dtype)
    a = alpha.view(B, *([1] * (real.dim() - 1)))
    x_hat = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    # double backward through an RNN is not implemented by cuDNN: fall back to native kernels
    ctx = torch.backends.cudnn.flags(enabled=False) if x_hat.is_cuda else contextlib.nullcontext()
    with ctx:
        score = critic(x_hat)
        grad, = torch.autograd.grad(score.sum(), x_hat, create_graph=True)
    return ((grad.reshape(B, -1).norm(dim=1) - target) ** 2).mean()
