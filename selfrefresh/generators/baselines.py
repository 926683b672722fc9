"""Baseline sequence generators for the coverage study, same interface as :class:`RecurrentGAN`.

* :class:`ARGenerativeRNN`: the "generative RNN" of seed 000. An autoregressive, class-conditional
  GRU trained by maximum likelihood with Gaussian outputs: p(x) = prod_t N(x_t; mu_t, sigma_t^2),
  (mu_t, sigma_t) read from the state after x_(<t). Sampling feeds its own samples back.
* :class:`SequenceVAE`: class-conditional sequence VAE (GRU encoder, non-autoregressive GRU decoder
  fed the latent at every step so it cannot ignore it).
* :class:`AvalancheSequenceVAE` and :func:`avalanche_generative_replay`: the VAE as the generator of
  Avalanche's ``GenerativeReplay`` strategy (unconditional: that strategy labels replays with the
  old solver's argmax).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .gan_base import LearnedSequenceGenerator

__all__ = ["ARGenerativeRNN", "SequenceVAE", "AvalancheSequenceVAE", "avalanche_generative_replay"]


def _batches(n: int, batch_size: int, device):
    perm = torch.randperm(n, device=device)
    for i in range(0, n, batch_size):
        yield perm[i:i + batch_size]


class ARGenerativeRNN(LearnedSequenceGenerator):
    """Autoregressive class-conditional GRU with Gaussian outputs, trained by maximum likelihood.

    Args:
        seq_len, n_features, num_classes: data shape and classes.
        hidden_size, num_layers, embed_size: network size.
        lr: Adam learning rate.  temperature: scale of the sampling std.
        min_log_std: floor of the predicted log std (standardised units).
    """

    def __init__(self, seq_len: int, n_features: int, num_classes: int, hidden_size: int = 64,
                 num_layers: int = 1, embed_size: int = 16, lr: float = 2e-3, temperature: float = 1.0,
                 min_log_std: float = -5.0, device="cpu", update_epochs: int = 50,
                 replay_per_class: Optional[int] = None):
        super().__init__(seq_len, n_features, num_classes, device, update_epochs, replay_per_class)
        self.lr, self.temperature, self.min_log_std = lr, temperature, min_log_std
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embed = nn.Embedding(num_classes, embed_size)
        self.init = nn.Sequential(nn.Linear(embed_size, num_layers * hidden_size), nn.Tanh())
        self.rnn = nn.GRU(n_features + embed_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 2 * n_features)
        self.to(self.device)

    def _h0(self, e: Tensor) -> Tensor:
        return self.init(e).view(e.shape[0], self.num_layers, self.hidden_size).transpose(0, 1).contiguous()

    def _dist(self, h: Tensor):
        mu, log_std = self.head(h).chunk(2, -1)
        return mu, log_std.clamp(self.min_log_std, 3.0)

    def nll(self, xn: Tensor, classes: Tensor) -> Tensor:
        """Mean negative log-likelihood per step and feature of standardised sequences (B, T, F)."""
        e = self.embed(classes)
        prev = torch.cat([torch.zeros_like(xn[:, :1]), xn[:, :-1]], 1)
        h, _ = self.rnn(torch.cat([prev, e[:, None].expand(-1, xn.shape[1], -1)], -1), self._h0(e))
        mu, log_std = self._dist(h)
        return (0.5 * ((xn - mu) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)).mean()

    def _start_fit(self, xn, y):
        self.opt = torch.optim.Adam(self.parameters(), lr=self.lr)

    def _train_epoch(self, xn, y, epoch, epochs, batch_size) -> Dict[str, float]:
        total, n = 0.0, 0
        for idx in _batches(len(y), batch_size, y.device):
            loss = self.nll(xn[idx], y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.opt.step()
            total, n = total + loss.item(), n + 1
        return {"nll": total / n}

    def _generate_normalized(self, classes: Tensor) -> Tensor:
        e = self.embed(classes)
        state = self._h0(e)
        x_t = torch.zeros(len(classes), 1, self.n_features, device=classes.device)
        out = []
        for _ in range(self.seq_len):
            h, state = self.rnn(torch.cat([x_t, e[:, None]], -1), state)
            mu, log_std = self._dist(h)
            x_t = mu + self.temperature * log_std.exp() * torch.randn_like(mu)
            out.append(x_t)
        return torch.cat(out, 1)


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
        for idx in _batches(len(y), batch_size, y.device):
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


def avalanche_generative_replay(model: nn.Module, optimizer, *, seq_len: int, n_features: int,
                                hidden_size: int = 64, latent_size: int = 16, generator_lr: float = 2e-3,
                                generator_epochs: Optional[int] = None, replay_size: Optional[int] = None,
                                increasing_replay_size: bool = False, device="cpu", train_mb_size: int = 32,
                                train_epochs: int = 1, eval_mb_size: int = 128, **strategy_kwargs):
    """Avalanche ``GenerativeReplay`` on sequences (N, T, F), with an :class:`AvalancheSequenceVAE`.

    The solver is ``model`` (x (B, T, F) -> logits). The VAE is trained after each experience on
    the experience's data plus its own replays (``generator_epochs``, default ``train_epochs``);
    replayed sequences are labelled by the previous solver's argmax. ``is_weighted_replay`` is not
    offered: in Avalanche 0.6.0 the weighted replay never reaches the loss. Extra keyword
    arguments go to ``GenerativeReplay`` (``plugins``, ``evaluator``, ``criterion`` ...).
    """
    from avalanche.training.plugins import GenerativeReplayPlugin
    from avalanche.training.plugins.evaluation import EvaluationPlugin
    from avalanche.training.supervised import GenerativeReplay, VAETraining

    vae = AvalancheSequenceVAE(seq_len, n_features, hidden_size, latent_size, device=device)
    generator_strategy = VAETraining(
        model=vae, optimizer=torch.optim.Adam(vae.parameters(), lr=generator_lr),
        train_mb_size=train_mb_size, train_epochs=generator_epochs or train_epochs,
        eval_mb_size=eval_mb_size, device=device, evaluator=EvaluationPlugin(loggers=[]),
        plugins=[GenerativeReplayPlugin(replay_size=replay_size, increasing_replay_size=increasing_replay_size)])
    return GenerativeReplay(model=model, optimizer=optimizer, generator_strategy=generator_strategy,
                            replay_size=replay_size, increasing_replay_size=increasing_replay_size,
                            device=device, train_mb_size=train_mb_size, train_epochs=train_epochs,
                            eval_mb_size=eval_mb_size, **strategy_kwargs)
