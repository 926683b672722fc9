"""Recurrent conditional GAN on sequences, as a pseudo-sequence generator and an Avalanche replay plugin.

:class:`RecurrentGAN` trains a :class:`~selfrefresh.generators.gan_nets.SequenceGenerator` against a
dilated-conv or recurrent critic with a class-projection head. Losses: non-saturating (``"ns"``),
``"wgan-gp"``, ``"hinge"``. Stabilisers, all options: spectral norm, TTUR learning rates, one-sided
label smoothing (ns only), instance noise decaying linearly over the epochs, random real/fake
swaps (label flips), PacGAN packing of same-class samples, a minibatch-std feature, per-class
moment matching, less frequent critic updates.

Recurrent critic + WGAN-GP: the penalty's double backward is not implemented by fused cuDNN RNNs;
the penalty is therefore computed with cuDNN disabled (exact, slower). Prefer ``critic="rnn"``
with ``spectral_norm=True, loss="hinge"``, or the conv critic for WGAN-GP.

Training is monitored and selected by a quality metric (per-class MMD^2, see
:class:`~selfrefresh.generators.learned.LearnedSequenceGenerator`), and stops cleanly on divergence.

:class:`selfrefresh.strategies.gan_replay.GANReplayPlugin` makes any learned generator a replay
source for any Avalanche strategy.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from .learned import DivergenceWarning, LearnedSequenceGenerator
from .gan_nets import (LOSSES, ConvCritic, RecurrentCritic, SequenceGenerator, discriminator_loss,
                       generator_loss, gradient_penalty)

__all__ = ["RecurrentGAN", "DivergenceWarning"]


class RecurrentGAN(LearnedSequenceGenerator):
    """Conditional sequence GAN: recurrent generator, conv or recurrent critic.

    Args:
        seq_len, n_features, num_classes: shape of the data (T, F) and number of classes.
        hidden_size: generator units (and critic channels unless ``critic_channels``).
        latent_size: per-sequence latent mapped to the initial state.  noise_size: per-step noise.
        noise_scale: std of the generator's noise (0 gives a deterministic, collapsed generator).
        cell: ``"gru" | "lstm"``.  num_layers: generator layers.
        critic: ``"conv" | "rnn"``.  loss: ``"ns" | "wgan-gp" | "hinge"``.
        gp_weight: WGAN-GP lambda.  n_critic: critic steps per generator step (default 5 for
            wgan-gp, 1 otherwise).  critic_every: update the critic only every k generator steps.
        spectral_norm: spectral normalisation of the critic.
        ttur: (generator lr, critic lr).  betas: Adam betas (default (0, 0.9) for wgan-gp, (0.5, 0.999) else).
        label_smoothing: s > 0 draws real targets in [1 - s, 1] (ns loss only).
        instance_noise: std of Gaussian noise added to the critic's inputs (standardised units),
            decaying linearly to 0 over the epochs of each fit.
        label_flip: probability of swapping a real and a fake sample in a critic step.
        pack: PacGAN: the critic judges ``pack`` same-class samples at once.
        minibatch_std: minibatch-std feature in the critic head.
        moment_matching: weight of the per-class moment-matching term (mean and std per step and
            feature) in the generator loss.
        mmd_weight: weight of a per-class kernel moment-matching term in the generator loss: the
            biased RBF-MMD^2 between the real and generated sequences of each class in the
            minibatch (flattened, standardised; bandwidths ``mmd_bandwidths`` times the median
            distance). It penalises missing modes directly (MMD-GAN / GMMN style). Default 100
            (the term is ~1e-2). Its effect on mode coverage: docs/gan.md ("Mode coverage"),
            checked by ``tests/test_gan.py``.
        device, update_epochs, replay_per_class: see :class:`LearnedSequenceGenerator`.
    """

    def __init__(self, seq_len: int, n_features: int, num_classes: int, hidden_size: int = 64,
                 latent_size: int = 16, noise_size: int = 8, noise_scale: float = 1.0, cell: str = "gru",
                 num_layers: int = 2, critic: str = "conv", critic_channels: Optional[int] = None,
                 loss: str = "ns", gp_weight: float = 10.0, n_critic: Optional[int] = None,
                 critic_every: int = 1, spectral_norm: bool = False, ttur: Tuple[float, float] = (1e-2, 5e-3),
                 betas: Optional[Tuple[float, float]] = None, label_smoothing: float = 0.0,
                 instance_noise: float = 0.0, label_flip: float = 0.0, pack: int = 1,
                 minibatch_std: bool = False, moment_matching: float = 0.0, mmd_weight: float = 100.0,
                 mmd_bandwidths: Tuple[float, ...] = (0.25, 0.5, 1.0), device="cpu",
                 update_epochs: int = 50, replay_per_class: Optional[int] = None):
        super().__init__(seq_len, n_features, num_classes, device, update_epochs, replay_per_class)
        if loss not in LOSSES:
            raise ValueError(f"unknown GAN loss {loss!r}; choose one of {LOSSES}")
        if critic not in ("conv", "rnn"):
            raise ValueError(f"critic must be 'conv' or 'rnn', got {critic!r}")
        if label_smoothing and loss != "ns":
            raise ValueError("label_smoothing applies to the non-saturating loss only (loss='ns')")
        if not 0 <= label_smoothing < 1 or not 0 <= label_flip < 0.5:
            raise ValueError(f"need 0 <= label_smoothing < 1 and 0 <= label_flip < 0.5, "
                             f"got {label_smoothing}, {label_flip}")
        if pack < 1 or critic_every < 1 or instance_noise < 0 or noise_scale < 0:
            raise ValueError("pack and critic_every must be >= 1, instance_noise and noise_scale >= 0")
        if mmd_weight < 0 or moment_matching < 0 or not mmd_bandwidths or min(mmd_bandwidths) <= 0:
            raise ValueError("mmd_weight and moment_matching must be >= 0, mmd_bandwidths positive")
        self.loss, self.gp_weight = loss, gp_weight
        self.n_critic = n_critic or (5 if loss == "wgan-gp" else 1)
        self.critic_every, self.ttur = critic_every, tuple(ttur)
        self.betas = betas or ((0.0, 0.9) if loss == "wgan-gp" else (0.5, 0.999))
        self.label_smoothing, self.instance_noise, self.label_flip = label_smoothing, instance_noise, label_flip
        self.pack, self.noise_scale, self.moment_matching = pack, noise_scale, moment_matching
        self.mmd_weight, self.mmd_bandwidths = mmd_weight, tuple(float(b) for b in mmd_bandwidths)
        self.generator = SequenceGenerator(seq_len, n_features, num_classes, hidden_size, latent_size,
                                           noise_size, cell=cell, num_layers=num_layers)
        ch = critic_channels or hidden_size
        critic_cls = ConvCritic if critic == "conv" else RecurrentCritic
        self.critic = critic_cls(n_features * pack, num_classes, ch, spectral_norm=spectral_norm,
                                 minibatch_std=minibatch_std)
        self.to(self.device)

    # ------------------------------------------------------------------ generation
    def _generate_normalized(self, classes: Tensor) -> Tensor:
        B = classes.shape[0]
        g = self.generator
        z = torch.randn(B, g.latent_size, device=classes.device) * self.noise_scale
        noise = torch.randn(B, self.seq_len, g.noise_size, device=classes.device) * self.noise_scale
        return g(classes, z, noise)

    # ------------------------------------------------------------------ training
    def _start_fit(self, xn: Tensor, y: Tensor) -> None:
        g_lr, d_lr = self.ttur
        self.g_opt = torch.optim.Adam(self.generator.parameters(), lr=g_lr, betas=self.betas)
        self.d_opt = torch.optim.Adam(self.critic.parameters(), lr=d_lr, betas=self.betas)
        order = torch.argsort(y)
        counts = torch.bincount(y, minlength=self.num_classes)
        self._sorted = order
        self._counts = counts
        self._offsets = torch.cumsum(counts, 0) - counts
        self._step = 0

    def _real_batch(self, xn: Tensor, y: Tensor, groups: int) -> Tuple[Tensor, Tensor]:
        """``groups`` groups of ``pack`` real sequences of one class each: (G*pack, T, F), classes (G,)."""
        anchor = torch.randint(len(y), (groups,), device=y.device)
        cls = y[anchor]
        r = (torch.rand(groups, self.pack, device=y.device) * self._counts[cls, None]).long()
        idx = self._sorted[self._offsets[cls, None] + r].flatten()
        return xn[idx], cls

    def _pack(self, x: Tensor) -> Tensor:
        G = x.shape[0] // self.pack
        return x.view(G, self.pack, self.seq_len, self.n_features).permute(0, 2, 1, 3).reshape(
            G, self.seq_len, self.pack * self.n_features)

    def _fake(self, cls: Tensor) -> Tensor:
        return self._generate_normalized(cls.repeat_interleave(self.pack))

    def instance_noise_std(self, epoch: int, epochs: int) -> float:
        """Std of the instance noise at ``epoch`` (0-based) of ``epochs``: ``instance_noise`` at the first,
        decaying linearly to 0 at the last."""
        return self.instance_noise * max(0.0, 1.0 - epoch / max(1, epochs - 1)) if self.instance_noise else 0.0

    def _train_epoch(self, xn: Tensor, y: Tensor, epoch: int, epochs: int, batch_size: int) -> Dict[str, float]:
        groups = max(1, batch_size // self.pack)
        steps = max(1, len(y) // (groups * self.pack))
        sigma = self.instance_noise_std(epoch, epochs)
        sums = {"d_loss": 0.0, "g_loss": 0.0}
        if self.loss == "wgan-gp":
            sums["gp"] = 0.0
        n_d = 0
        for _ in range(steps):
            self._step += 1
            real = None
            if self._step % self.critic_every == 0:
                for _ in range(self.n_critic):
                    real, cls = self._real_batch(xn, y, groups)
                    with torch.no_grad():
                        fake = self._fake(cls)
                    r_in, f_in = self._pack(real), self._pack(fake)
                    if self.label_flip:
                        swap = (torch.rand(len(cls), device=cls.device) < self.label_flip)[:, None, None]
                        r_in, f_in = torch.where(swap, f_in, r_in), torch.where(swap, r_in, f_in)
                    if sigma:
                        r_in = r_in + sigma * torch.randn_like(r_in)
                        f_in = f_in + sigma * torch.randn_like(f_in)
                    d_real, d_fake = self.critic(r_in, cls), self.critic(f_in, cls)
                    target = None
                    if self.label_smoothing:
                        target = 1 - self.label_smoothing * torch.rand_like(d_real)
                    d_loss = discriminator_loss(self.loss, d_real, d_fake, target)
                    if self.loss == "wgan-gp":
                        gp = gradient_penalty(lambda v: self.critic(v, cls), r_in, f_in)
                        d_loss = d_loss + self.gp_weight * gp + 1e-3 * (d_real ** 2).mean()
                        sums["gp"] += gp.item()
                    self.d_opt.zero_grad(set_to_none=True)
                    d_loss.backward()
                    self.d_opt.step()
                    sums["d_loss"] += d_loss.item()
                    n_d += 1
            if real is None:
                real, cls = self._real_batch(xn, y, groups)
            fake = self._fake(cls)
            f_in = self._pack(fake)
            if sigma:
                f_in = f_in + sigma * torch.randn_like(f_in)
            g_loss = generator_loss(self.loss, self.critic(f_in, cls))
            if self.moment_matching:
                g_loss = g_loss + self.moment_matching * self._moment_loss(real, fake, cls)
            if self.mmd_weight:
                g_loss = g_loss + self.mmd_weight * self._mmd_loss(real, fake, cls)
            self.g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            self.g_opt.step()
            sums["g_loss"] += g_loss.item()
        out = {"g_loss": sums["g_loss"] / steps, "d_loss": sums["d_loss"] / max(1, n_d)}
        if "gp" in sums:
            out["gp"] = sums["gp"] / max(1, n_d)
        return out

    def _moment_loss(self, real: Tensor, fake: Tensor, cls: Tensor) -> Tensor:
        """Mean over the classes in the batch of |mean diff|^2 + |std diff|^2 per (step, feature)."""
        c = cls.repeat_interleave(self.pack)
        terms = []
        for k in torch.unique(c):
            r, f = real[c == k], fake[c == k]
            term = (r.mean(0) - f.mean(0)).pow(2).mean()
            if len(r) > 1:
                term = term + (r.std(0) - f.std(0)).pow(2).mean()
            terms.append(term)
        return torch.stack(terms).mean()

    def _mmd_loss(self, real: Tensor, fake: Tensor, cls: Tensor) -> Tensor:
        """Mean over the classes in the batch of the biased RBF-MMD^2 between real and fake (flattened)."""
        c = cls.repeat_interleave(self.pack)
        terms = []
        for k in torch.unique(c):
            r, f = real[c == k].flatten(1), fake[c == k].flatten(1)
            if len(r) < 2:
                continue
            d_rr, d_ff, d_rf = torch.cdist(r, r).pow(2), torch.cdist(f, f).pow(2), torch.cdist(r, f).pow(2)
            med = d_rf.detach().median().clamp_min(1e-6)
            kern = 0.0
            for b in self.mmd_bandwidths:
                s2 = 2 * b * b * med
                kern = kern + torch.exp(-d_rr / s2).mean() + torch.exp(-d_ff / s2).mean() \
                    - 2 * torch.exp(-d_rf / s2).mean()
            terms.append(kern / len(self.mmd_bandwidths))
        return torch.stack(terms).mean() if terms else real.new_zeros(())
