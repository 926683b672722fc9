"""The dual self-refreshing network (Ans & Rousset) as plain PyTorch: no Avalanche in this file.

NET1 (the model being trained, the one evaluated) learns each experience from real data
interleaved with pseudo-patterns made by NET2 (the storage network). After the experience NET1's
knowledge moves to NET2: NET2 copies NET1's weights (``transfer="copy"``) or learns NET1's own
pseudo-patterns (``transfer="pseudo"``, the papers' mechanism). NET2 never sees real data. In
class-incremental streams a pseudo-pattern's targets cover all outputs: the classes NET2 learned
get its soft outputs, the others zero.

:class:`DualMemory` is driven by the plugin and the strategy beside this file:
``begin_experience`` -> (``begin_epoch`` -> (``observe`` -> ``training_loss``)*)* -> ``end_experience``.
"""
from __future__ import annotations

import copy
import math
from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...generators.base import PseudoBatch, label_transitions
from ...generators.registry import make_generator
from ..losses import current_classes_ce, soft_target_loss
from .calibration import (ClassFeatureStats, align_class_weights, calibrate_head, features_of, head_input,
                          teacher_labels)
from .checks import check_batch, grow_head
from .config import SelfRefreshConfig
from .inversion import invert_features
from .pool import PseudoPool
from .pseudo_loss import pseudo_loss, tail_steps, truncates
from .teacher_cache import TeacherCache

__all__ = ["DualMemory"]


class DualMemory:
    """NET2, its pseudo-patterns and the losses that make NET1 learn them.

    Args:
        config: a :class:`SelfRefreshConfig`.

    Attributes:
        storage: NET2 (None before the first experience ends).
        known: (C,) bool, the classes NET2 learned.
        seen: the classes NET1 met.
        generator: the pseudo-pattern source.
        rng: the method's own ``torch.Generator`` (pool order, samples of the feature statistics,
            the inversion's seeds), seeded by ``config.seed``; torch's global RNG is not used.
    """

    def __init__(self, config: SelfRefreshConfig):
        self.config = config
        self.generator = make_generator(config.generator, **(config.generator_kwargs or {}))
        if hasattr(self.generator, "manual_seed"):
            self.generator.manual_seed(config.seed)
        self.storage: Optional[nn.Module] = None
        self.known: Optional[Tensor] = None
        self.seen: set = set()
        self.moments = None                 # [count, sum (F,), sumsq (F,)] of real data (float64)
        self.prototypes = ClassFeatureStats(config.prototype_rank)  # per-class mean/variance of NET1's features
        # the method's own draws (pool order, statistics' samples, inversion seeds): no global RNG
        self.rng = torch.Generator().manual_seed(config.seed + 1)
        self.pool = PseudoPool(self.rng)
        self.current: Optional[Tensor] = None  # (K,) the current experience's classes
        self.batches_per_epoch = 1
        self._before = None                 # [(param, its value before the step)] while a step is scaled
        self._cache = None                  # (x, real out, pseudo batch, pseudo out) of the fused pass
        self.teacher = TeacherCache(config.teacher_cache_mb)  # NET2's outputs on this experience's sequences

    # -- the experience ------------------------------------------------------------------------
    def begin_experience(self, model: nn.Module, classes: Sequence[int], n_train: int, mb_size: int,
                         epochs: int, real_x: Optional[Tensor] = None, real_y: Optional[Tensor] = None) -> None:
        """Before training on an experience of ``n_train`` sequences of ``classes``.

        ``real_x`` (N, T, F), ``real_y`` (N,): some of the experience's sequences (seeds with
        ``seeds="current"``; the head's warm-up).
        """
        if n_train == 0:
            raise ValueError("SelfRefresh: the experience has no training data")
        grow_head(model, classes)
        self.current = torch.as_tensor(sorted(int(c) for c in classes), dtype=torch.long)
        self.batches_per_epoch = max(1, math.ceil(n_train / mb_size))
        self._mb_size, self._epochs = mb_size, epochs
        self.pool.clear()
        self.teacher.clear()
        if self.storage is None:
            return
        if self.config.warmup_steps and real_x is not None and real_y is not None:
            self._warm_up_head(model, real_x, real_y)
        self._configure_generator(self.storage, self.known, real_x)
        if self.config.regenerate == "experience":
            self._refill()

    def begin_epoch(self) -> None:
        if self.storage is not None and self.config.regenerate == "epoch":
            self._refill()

    def observe(self, model: nn.Module, x: Tensor, y: Tensor, first_epoch: bool) -> None:
        """Check a real minibatch; record its length and (first epoch) its moments."""
        check_batch(model, x, y)
        if hasattr(self.generator, "seq_len") and self.generator.seq_len is None:
            self.generator.seq_len = x.shape[1]
        if self.config.match_moments and first_epoch:
            flat = x.detach().reshape(-1, x.shape[-1]).double().cpu()
            if self.moments is None:
                self.moments = [0, torch.zeros(x.shape[-1], dtype=torch.float64),
                                torch.zeros(x.shape[-1], dtype=torch.float64)]
            self.moments[0] += flat.shape[0]
            self.moments[1] += flat.sum(0)
            self.moments[2] += (flat * flat).sum(0)

    def end_experience(self, model: nn.Module, classes: Sequence[int], mb_size: int, device,
                       real_x: Optional[Tensor] = None, real_y: Optional[Tensor] = None,
                       dataset=None) -> None:
        """After an experience: calibrate NET1's head, move NET1's knowledge to NET2."""
        cfg = self.config
        if real_x is not None:
            real_x, real_y = real_x.to(device), real_y.to(device)
            if hasattr(model, "features"):
                feats = features_of(model, real_x)  # the head's calibration leaves the features as they are
                if self.storage is not None and cfg.invert_steps and hasattr(self.storage, "rnn"):
                    self._add_inverted(real_x)
                pool = self.pool.batch               # NET1's features of the pool, for the drift and the calibration
                pool_feats = (features_of(model, pool.x.to(device))
                              if self.storage is not None and pool is not None and not pool.static
                              and (cfg.drift == "pseudo" or cfg.calibrate_steps and cfg.calibrate_on != "prototypes")
                              else None)
                if self.storage is not None:
                    self._move_prototypes(model, real_x, feats, pool_feats)
                if cfg.calibrate_steps and self.storage is not None:
                    self._calibrate_head(model, real_x, real_y, feats, pool_feats)
                self.prototypes.record(feats, real_y)
        if cfg.align_weights and self.seen:
            align_class_weights(model, sorted(self.seen), self.current.tolist())
        self.seen.update(int(c) for c in classes)
        known = torch.zeros(getattr(model, "num_classes", max(self.seen) + 1), dtype=torch.bool)
        known[sorted(self.seen)] = True
        if cfg.transfer == "copy" or self.storage is None and cfg.transfer_steps == 0:
            self.storage = copy.deepcopy(model).eval()
        else:
            self._transfer_pseudo(model, known, mb_size, device)
        for p in self.storage.parameters():
            p.requires_grad_(True)
        self.known = known
        self.pool.clear()
        self.teacher.clear()
        if cfg.seeds == "current" and hasattr(self.generator, "use_seeds"):
            self.generator.use_seeds(None)  # the experience's sequences are not kept
        if hasattr(self.generator, "update"):
            self.generator.update(dataset, network=self.storage)

    # -- pseudo-patterns -----------------------------------------------------------------------
    def _configure_generator(self, network: nn.Module, known: Optional[Tensor],
                             real_x: Optional[Tensor] = None) -> None:
        cfg = self.config
        classes = torch.nonzero(known).flatten().tolist() if (cfg.steer and known is not None) else None
        moments = None
        if cfg.match_moments and self.moments is not None:
            n, s, ss = self.moments
            mean = s / n
            moments = (mean.float(), (ss / n - mean * mean).clamp_min(1e-8).sqrt().float())
        self.generator.configure(network, classes=classes, moments=moments)
        if cfg.seeds == "current" and real_x is not None and hasattr(self.generator, "use_seeds"):
            self.generator.use_seeds(real_x.detach().float().cpu())

    def per_batch(self, batch_size: int) -> int:
        """Pseudo-patterns that go with ``batch_size`` real sequences."""
        return max(1, int(round(self.config.pseudo_ratio * batch_size)))

    def _refill(self) -> None:
        cfg = self.config
        per_epoch = self.per_batch(self._mb_size) * self.batches_per_epoch
        epochs = self._epochs if cfg.regenerate == "experience" else 1
        n = max(self.per_batch(self._mb_size), int(math.ceil(per_epoch * epochs * cfg.pool_factor)))
        if cfg.pool_per_class and self.known is not None:
            n = max(n, cfg.pool_per_class * int(self.known.sum()))
        self.pool.fill(n, self.sample)

    def sample(self, n: int) -> PseudoBatch:
        """n fresh pseudo-patterns from NET2, in the form the loss reads."""
        batch = self.generator.sample(n)
        if not self.config.feature_weight and batch.features is not None:
            batch.features = None  # (N, T, H) the loss would not read: not kept in the pool
        if self.config.pseudo_learning == "transitions" and not batch.static:
            batch = label_transitions(self.generator.network, batch)
        return batch

    def next_pseudo(self, batch_size: int, device) -> PseudoBatch:
        """The pseudo-patterns for one minibatch of ``batch_size`` real sequences."""
        n = self.per_batch(batch_size)
        if self.config.regenerate == "step" or self.pool.batch is None:
            return self.sample(n).to(device)
        return self.pool.take(n).to(device)

    # -- slow encoder --------------------------------------------------------------------------
    def before_update(self, model: nn.Module) -> None:
        """Remember the encoder's weights before an optimizer step (when its steps are scaled)."""
        self._before = None
        if self.config.encoder_lr_scale != 1.0 and self.storage is not None:
            head = getattr(model, "classifier", None)
            skip = set() if head is None else {id(p) for p in head.parameters()}
            self._before = [(p, p.detach().clone()) for p in model.parameters() if id(p) not in skip]

    @torch.no_grad()
    def after_update(self, model: nn.Module) -> None:
        """Scale the step the encoder just took by ``encoder_lr_scale`` (the class head keeps its own)."""
        if self._before:
            s = self.config.encoder_lr_scale
            for p, old in self._before:
                p.copy_(old + s * (p - old))
        self._before = None

    # -- losses --------------------------------------------------------------------------------
    def active(self) -> bool:
        """Whether minibatches get pseudo-patterns (NET2 exists and the ratio is > 0)."""
        return self.storage is not None and self.config.pseudo_ratio > 0

    def forward_train(self, model: nn.Module, x: Tensor) -> Tensor:
        """NET1's pass over real x (B, T, F) and this minibatch's pseudo-sequences together.

        Returns the real logits (B, C); keeps both outputs for :meth:`training_loss`.
        """
        pb = self.next_pseudo(len(x), x.device) if self.active() else None
        fuse = (pb is not None and not pb.static and not pb.transitions and pb.x.shape[1:] == x.shape[1:]
                and not self.truncates(x.shape[1]))
        if fuse:
            out = model.run(torch.cat([x, pb.x]), with_context=False)
            b = len(x)
            parts = [(t[:b], t[b:]) for t in (out.logits, out.step_logits, out.features, out.recon,
                                              out.recon_target)]
            real_out = type(out)(*[p[0] for p in parts], None)
            pseudo_out = type(out)(*[p[1] for p in parts], None)
        else:
            # static (item, context) patterns need an auto head that also reconstructs contexts
            static = getattr(self.generator, "mode", None) == "static"
            real_out, pseudo_out = model.run(x, with_context=static), None
        self._cache = (x, real_out, pb, pseudo_out)
        return real_out.logits

    def training_loss(self, model: nn.Module, x: Tensor, y: Tensor, with_class_loss: bool = True) -> Tensor:
        """The whole loss of one minibatch: real class loss (unless ``with_class_loss`` is False:
        the host strategy computes cross-entropy over all outputs itself), real auto loss, LwF
        term, and the pseudo-pattern loss. Reuses :meth:`forward_train`'s pass on the same x."""
        if self._cache is None or self._cache[0] is not x:
            self.forward_train(model, x)
        _, out, pb, pseudo_out = self._cache
        self._cache = None
        cfg = self.config
        if with_class_loss:
            loss = self.real_class_loss(out.logits, y)
        elif cfg.real_loss == "current" and self.storage is not None:
            loss = self.real_class_loss(out.logits, y) - F.cross_entropy(out.logits, y)
        else:
            loss = out.logits.new_zeros(())
        if cfg.real_auto_weight and hasattr(model, "run"):
            loss = loss + cfg.real_auto_weight * F.mse_loss(out.recon, out.recon_target)
        if (cfg.real_distill_weight or cfg.real_feature_weight) and self.storage is not None:
            t_features, t_logits = self.teacher(self.storage, x, self._teacher_outputs)
            if cfg.real_distill_weight:
                loss = loss + cfg.real_distill_weight * self.real_distill_loss(out.logits, t_logits)
            if cfg.real_feature_weight:
                loss = loss + cfg.real_feature_weight * F.mse_loss(out.features, t_features)
        if pb is not None:
            loss = loss + self.pseudo_loss(model, pb, out=pseudo_out)
        return loss

    @torch.no_grad()
    def _teacher_outputs(self, x: Tensor):
        """NET2's features (B, T, H) and logits (B, C) on real x (B, T, F) (no auto head)."""
        features, _ = self.storage.rnn(x)
        return features, self.storage.classifier(head_input(self.storage, features))

    def real_class_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy on real data: all outputs, or the current classes once old ones exist."""
        if self.config.real_loss == "current" and self.storage is not None and self.current is not None:
            return current_classes_ce(logits, y, self.current.to(logits.device))
        return F.cross_entropy(logits, y)

    def real_distill_loss(self, logits: Tensor, teacher_logits: Tensor) -> Tensor:
        """LwF on real data: NET1's outputs over NET2's classes match NET2's (scalar)."""
        old = torch.nonzero(self.known).flatten().to(logits.device)
        t = self.config.temperature
        return soft_target_loss(logits[:, old], torch.softmax(teacher_logits[:, old] / t, dim=1), t)

    def pseudo_loss(self, model: nn.Module, batch: PseudoBatch, out=None) -> Tensor:
        """Loss of a student network on NET2-labelled pseudo-patterns (scalar); ``out``: the
        student's ``run`` output on ``batch.x`` when already computed."""
        return pseudo_loss(self.config, self.known, model, batch, out)

    def truncates(self, steps: int) -> bool:
        """Whether pseudo-sequences of ``steps`` steps get a truncated gradient."""
        return truncates(self.config, steps)

    # -- after the experience --------------------------------------------------------------------
    def _move_prototypes(self, model: nn.Module, real_x: Tensor, real_feats: Optional[Tensor] = None,
                         pool_feats: Optional[Tensor] = None) -> None:
        """Move the old classes' feature statistics by the drift NET1 shows against NET2: on the
        current data as a whole (``drift="mean"``), per class on NET2's pseudo-sequences of it
        (``"pseudo"``), or through an affine map fitted on both (``"linear"``). ``real_feats``,
        ``pool_feats``: NET1's features of real_x and of the pool's pseudo-sequences when already computed."""
        pseudo = self.pool.batch
        if self.config.drift == "linear":
            with_pool = pseudo is not None and not pseudo.static
            x = torch.cat([real_x, pseudo.x.to(real_x.device)]) if with_pool else real_x
            if real_feats is None or (with_pool and pool_feats is None):
                new = features_of(model, x)
            else:
                new = torch.cat([real_feats, pool_feats]) if with_pool else real_feats
            self.prototypes.move_linear(features_of(self.storage, x), new)
        elif self.config.drift == "pseudo" and pseudo is not None and not pseudo.static:
            x = pseudo.x.to(real_x.device)
            labels = teacher_labels(pseudo.logits, self.known)
            new = features_of(model, x) if pool_feats is None else pool_feats
            self.prototypes.move_per_class(new - features_of(self.storage, x), labels)
        else:
            new = features_of(model, real_x) if real_feats is None else real_feats
            self.prototypes.move(new - features_of(self.storage, real_x))

    def _add_inverted(self, real_x: Tensor) -> None:
        """Add to the pool (for the drift and the calibration that follow) sequences inverted
        through NET2 from the old classes' statistics: ``invert_per_class`` features drawn from
        each old class, reached by steering real sequences of real_x (N, T, F), each labelled with
        the class its target was drawn from."""
        cfg = self.config
        old = [c for c in torch.nonzero(self.known).flatten().tolist() if c in self.prototypes.stats]
        targets, labels = self.prototypes.sample(old, cfg.invert_per_class, real_x.device, self.rng)
        if not len(labels):
            return
        seeds = real_x[torch.randint(len(real_x), (len(labels),), generator=self.rng).to(real_x.device)]
        tail = tail_steps(cfg.invert_tail, real_x.shape[1])
        x = invert_features(self.storage, seeds, targets.to(real_x.dtype), cfg.invert_steps, cfg.invert_lr, tail)
        labels = labels.to(x.device)
        pool = self.pool.batch
        if pool is not None and not pool.static:  # the pool's sequences first, with their teacher labels
            x = torch.cat([pool.x.to(x.device), x])
            labels = torch.cat([teacher_labels(pool.logits, self.known).to(x.device), labels])
        logits = torch.full((len(x), len(self.known)), -1e4, device=x.device)  # one-hot: what is read is the label
        logits[torch.arange(len(x), device=x.device), labels] = 0.0
        self.pool.batch = PseudoBatch(x=x, logits=logits)

    def _calibrate_head(self, model: nn.Module, real_x: Tensor, real_y: Tensor,
                        real_feats: Optional[Tensor] = None, pool_feats: Optional[Tensor] = None) -> None:
        """Class-balanced training of NET1's class head on frozen features: the experience's real
        sequences for the new classes (and, with ``calibrate_new_on="both"``, as many features drawn
        from Gaussian statistics of theirs); NET2's pseudo-sequences (labelled by its argmax) and/or
        features drawn from the old classes' statistics for the old ones."""
        head = getattr(model, "classifier", None)
        if not isinstance(head, nn.Linear) or not hasattr(model, "features"):
            return
        cfg = self.config
        old = torch.nonzero(self.known).flatten().tolist()
        per_class = max(cfg.pool_per_class, int(math.ceil(len(real_x) / max(1, len(self.current)))))
        feats = [features_of(model, real_x) if real_feats is None else real_feats]
        labels = [real_y]
        if cfg.calibrate_new_on == "both":
            new_stats = ClassFeatureStats(self.prototypes.rank)
            new_stats.record(feats[0], real_y)
            f, y = new_stats.sample(self.current.tolist(), per_class, real_x.device, self.rng)
            if len(y):
                feats.append(f.to(feats[0].dtype))
                labels.append(y.to(real_y.device))
        if cfg.calibrate_on in ("pseudo", "both"):
            pseudo = self.pool.batch if self.pool.batch is not None else self.sample(per_class * len(old))
            if not pseudo.static:
                from_pool = pool_feats is not None and pseudo is self.pool.batch
                feats.append(pool_feats if from_pool else features_of(model, pseudo.x.to(real_x.device)))
                labels.append(teacher_labels(pseudo.logits, self.known).to(real_y.device))
        if cfg.calibrate_on in ("prototypes", "both"):
            f, y = self.prototypes.sample(old, per_class, real_x.device, self.rng)
            if len(y):
                feats.append(f)
                labels.append(y.to(real_y.device))
        calibrate_head(head, torch.cat(feats), torch.cat(labels), cfg.calibrate_steps, cfg.calibrate_lr)

    def _warm_up_head(self, model: nn.Module, real_x: Tensor, real_y: Tensor) -> None:
        """Train the new classes' head rows alone on NET1's frozen features of the experience's
        real sequences (cross-entropy over the new classes) before the encoder moves."""
        head = getattr(model, "classifier", None)
        if not isinstance(head, nn.Linear) or not hasattr(model, "features"):
            return
        dev = head.weight.device
        feats = features_of(model, real_x.to(dev))
        cur = self.current.to(dev)
        sub = nn.Linear(head.in_features, len(cur), bias=head.bias is not None).to(dev)
        with torch.no_grad():
            sub.weight.copy_(head.weight[cur])
            if head.bias is not None:
                sub.bias.copy_(head.bias[cur])
        remap = torch.full((head.out_features,), -1, dtype=torch.long, device=dev)
        remap[cur] = torch.arange(len(cur), device=dev)
        labels = remap[real_y.to(dev)]
        keep = labels >= 0  # only the experience's own classes (a sample holds nothing else)
        if not bool(keep.any()):
            return
        calibrate_head(sub, feats[keep], labels[keep], self.config.warmup_steps, self.config.calibrate_lr)
        with torch.no_grad():
            head.weight[cur] = sub.weight
            if head.bias is not None:
                head.bias[cur] = sub.bias

    def _transfer_pseudo(self, net1: nn.Module, known: Tensor, mb_size: int, device) -> None:
        """NET2 learns NET1's reverberated pseudo-patterns; it never sees real data."""
        cfg = self.config
        if self.storage is None or cfg.reset_storage:
            net2 = copy.deepcopy(net1)
            for m in net2.modules():
                if hasattr(m, "reset_parameters") and m is not net2:
                    m.reset_parameters()
        else:
            net2 = self.storage
            if hasattr(net2, "grow") and hasattr(net1, "num_classes"):
                net2.grow(net1.num_classes)
        net2.train()
        self._configure_generator(net1, known)
        teacher_known, self.known = self.known, known
        opt = torch.optim.Adam(net2.parameters(), lr=cfg.transfer_lr)
        n = self.per_batch(mb_size) + mb_size
        try:
            for _ in range(cfg.transfer_steps):
                batch = self.sample(n).to(device)
                opt.zero_grad()
                self.pseudo_loss(net2, batch).backward()
                opt.step()
        finally:
            self.known = teacher_known
        self.storage = net2.eval()

    # -- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Tensors and plain values only (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "storage": None if self.storage is None else self.storage.state_dict(),
            "known": self.known,
            "seen": sorted(self.seen),
            "moments": None if self.moments is None else
            [torch.tensor(self.moments[0], dtype=torch.float64), self.moments[1], self.moments[2]],
            "seq_len": getattr(self.generator, "seq_len", None),
            "prototypes": self.prototypes.state_dict(),
            "rng": self.rng.get_state(),
        }

    def load_state_dict(self, state: dict, model: nn.Module) -> None:
        """Restore from :meth:`state_dict`; ``model`` gives NET2's architecture."""
        if state.get("storage") is not None:
            net2 = copy.deepcopy(model)
            n_out = state["storage"]["classifier.weight"].shape[0] if "classifier.weight" in state["storage"] else None
            if n_out is not None and hasattr(net2, "grow") and net2.num_classes < n_out:
                net2.grow(n_out)
            net2.load_state_dict(state["storage"])
            self.storage = net2.eval()
        self.known = state.get("known")
        self.seen = set(int(c) for c in state.get("seen", []))
        self.prototypes.load_state_dict(state.get("prototypes") or {})
        if state.get("rng") is not None:
            self.rng.set_state(state["rng"])
        m = state.get("moments")
        self.moments = None if m is None else [float(m[0]), m[1], m[2]]
        if state.get("seq_len") is not None and hasattr(self.generator, "seq_len"):
            self.generator.seq_len = int(state["seq_len"])
        if state.get("generator_rng") is not None and hasattr(self.generator, "load_state_dict"):
            # checkpoints written before the generator kept its own state
            self.generator.load_state_dict({"rng": state["generator_rng"], "seq_len": state.get("seq_len")})
