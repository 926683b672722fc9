"""A class-conditional sequence VAE, and the same VAE with Avalanche's generator interface.

* :class:`SequenceVAE`: class-conditional sequence VAE (GRU encoder, non-autoregressive GRU decoder
  fed the latent at every step so it cannot ignore it); same interface as
  :class:`~selfrefresh.generators.gan.RecurrentGAN`.
* :class:`AvalancheSequenceVAE`: the VAE, unconditional, as the generator of Avalanche's
  ``GenerativeReplay`` strategy (see :mod:`selfrefresh.strategies.generative_replay`; that strategy
  labels replays with the old solver's argmax).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn

from .learned import LearnedSequenceGenerator, minibatches

__all__ = ["SequenceVAE", "AvalancheSequenceVAE"]


class SequenceVAE(LearnedSequenceGenerator):
    """Class-conditional sequence VAE.

    Encoder: GRU over [x_t, e_y] -> (mean, logvar) of z. Decoder: initial state from [z, e_y], then a
    GRU fed [z, e_y] at every step, linear read-out. Loss per sequence:
    |x - x_hat|^2 / (2 obs_std^2) + beta KL(q(z|x, y) || N(0, I)) (standardised units).

    ``forward(x, classes=None) -> (x_hat, mean, logvar)`` in data units (classes default to 0),
    the signature Avalanche's ``VAE_loss`` expects.
    """

    def __init__(self, seq_len: int, n_features: int, num_classes: int, hidden_size: int = 64,
                 latent_size: int = 16, embed_size: int = 16, obs_std: float = 0.3, beta: float = 1.0,
                 lr: float = 2e-3, device="cpu", update_epochs: int = 50, replay_per_class: Optional[int] = None):
        super().__init__(seq_len, n_features, num_classes, device, update_epochs, replay_per_class)
        self.latent_size, self.obs_std, self.beta, self.lr = latent_size, obs_std, beta, lr
        self.embed = nn.Embedding(num_classes, embed_size)
        self.encoder = nn.GRU(n_features + embed_size, hidden_size, batch_first=True)
        self.to_stats = nn.Linear(hidden_size, 2 * latent_size)
        self.init = nn.Sequential(nn.Linear(latent_size + embed_size, hidden_size), nn.Tanh())
        self.decoder = nn.GRU(latent_size + embed_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, n_features)
        self.to(self.device)

    def encode(self, xn: Tensor, classes: Tensor):
        e = self.embed(classes)
        _, h = self.encoder(torch.cat([xn, e[:, None].expand(-1, xn.shape[1], -1)], -1))
        mean, logvar = self.to_stats(h[-1]).chunk(2, -1)
        return mean, logvar.clamp(-10, 10)

    def decode(self, z: Tensor, classes: Tensor) -> Tensor:
        zc = torch.cat([z, self.embed(classes)], -1)
        h, _ = self.decoder(zc[:, None].expand(-1, self.seq_len, -1), self.init(zc)[None])
        return self.out(h)

    def forward(self, x: Tensor, classes: Optional[Tensor] = None):
        if classes is None:
            classes = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        mean, logvar = self.encode(self.normalize(x), classes)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        return self.denormalize(self.decode(z, classes)), mean, logvar

    def loss(self, xn: Tensor, classes: Tensor) -> Dict[str, Tensor]:
        mean, logvar = self.encode(xn, classes)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        rec = ((self.decode(z, classes) - xn) ** 2).flatten(1).sum(1).mean() / (2 * self.obs_std ** 2)
        kl = 0.5 * (mean ** 2 + logvar.exp() - 1 - logvar).sum(1).mean()
        return {"loss": rec + self.beta * kl, "recon": rec, "kl": kl}

    def _start_fit(self, xn, y):
        self.opt = torch.optim.Adam(self.parameters(), lr=self.lr)

    def _train_epoch(self, xn, y, epoch, epochs, batch_size) -> Dict[str, float]:
        sums, n = {"loss": 0.0, "recon": 0.0, "kl": 0.0}, 0
        for idx in minibatches(len(y), batch_size, y.device):
            parts = self.loss(xn[idx], y[idx])
            self.opt.zero_grad(set_to_none=True)
            parts["loss"].backward()
            nn.utils.clip_grad_norm_(self.parameters(), 5.0)
            self.opt.step()
            for k in sums:
                sums[k] += parts[k].item()
            n += 1
        return {k: v / n for k, v in sums.items()}

    def _generate_normalized(self, classes: Tensor) -> Tensor:
        return self.decode(torch.randn(len(classes), self.latent_size, device=classes.device), classes)


class AvalancheSequenceVAE(nn.Module):
    """An unconditional :class:`SequenceVAE` with Avalanche's generator interface.

    ``forward(x (B, T, F)) -> (x_hat, mean, logvar)`` (for ``VAE_loss``) and
    ``generate(batch_size) -> (batch_size, T, F)``, as ``avalanche.models.MlpVAE``; for
    ``GenerativeReplay(generator_strategy=VAETraining(model=AvalancheSequenceVAE(...)))``.
    """

    def __init__(self, seq_len: int, n_features: int, hidden_size: int = 64, latent_size: int = 16,
                 device="cpu"):
        super().__init__()
        self.vae = SequenceVAE(seq_len, n_features, 1, hidden_size, latent_size, device=device)
        self.vae.seen[0] = True

    @property
    def device(self):
        return self.vae.x_mean.device

    def forward(self, x: Tensor):
        return self.vae(x)

    @torch.no_grad()
    def generate(self, batch_size: Optional[int] = None, condition=None) -> Tensor:
        x, _ = self.vae.generate(batch_size or 1, classes=0)
        return x if batch_size else x[0]
