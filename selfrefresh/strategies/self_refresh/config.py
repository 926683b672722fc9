"""The hyper-parameters of the dual self-refreshing network, their validation and the presets."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Optional, Union

__all__ = ["SelfRefreshConfig", "PRESETS"]


@dataclass
class SelfRefreshConfig:
    """Everything :class:`~selfrefresh.strategies.SelfRefresh` and its plugin can be told.

    Pseudo-patterns:
        generator: pseudo-pattern source: ``"reverberation"`` (default, whole pseudo-sequences),
            ``"static"`` (Ans et al. 2004 item+context patterns), ``"noise"``, ``"gan"``, or an
            instance following :class:`~selfrefresh.generators.PseudoGenerator`.
        generator_kwargs: passed to the generator when it is built from a name.
        seeds: where reverberation starts: ``"noise"`` (around the running data moments) or
            ``"current"`` (the current experience's own real sequences, which NET2 then steers
            toward its old classes and reverberates: pseudo-sequences that start on the data
            manifold; nothing is kept after the experience). Generators that do not start from
            seed sequences (a GAN) ignore it.
        steer: steer seeds toward NET2's classes (the generator's ``steer_steps`` says how hard).
        match_moments: noise seeds around the running per-feature mean/std of the real data.
        pseudo_ratio: pseudo-patterns per real sequence in each minibatch (default half as many,
            each weighing twice through the pseudo losses' weights of 2: the pull of one per real
            sequence at weight 1, the default until 2026-12-03, for about half the cost).
        regenerate: ``"step"`` (fresh patterns every minibatch), ``"epoch"`` (a pool per epoch)
            or ``"experience"`` (one pool per experience, reused).
        pool_factor: pool size relative to the pseudo-patterns the pool's period consumes.
        pool_per_class: the pool holds at least this many pseudo-patterns per class NET2 knows
            (so that short budgets keep a full memory); 0: ``pool_factor`` alone.
    Learning them:
        pseudo_learning: ``"sequence"`` (NET1 runs each pseudo-sequence and matches NET2's
            outputs) or ``"transitions"`` (NET2's step transitions in one parallel step).
        transition_fraction: with ``"transitions"``, the fraction of N * T transitions used.
        pseudo_grad_steps: backpropagate the sequence pseudo loss through the last k steps only.
        pseudo_grad_tail: the same as a fraction of each pseudo-sequence's steps (the last
            ``ceil(tail * T)``; the beginning is run without a graph, which on a CPU costs a third of
            a pass with its backward); 1: every step. ``pseudo_grad_steps``, when set, takes precedence.
        temperature: distillation temperature (> 0).
        distill_weight, auto_weight, feature_weight, context_weight: weights of the pseudo losses
            on class outputs, auto outputs, hidden features, next context (static patterns); the
            first three default to 2 (see ``pseudo_ratio``).
    Real data:
        real_loss: ``"all"`` (default: cross-entropy over every output; the calibration after the
            experience corrects the bias toward the new classes) or ``"current"`` (over the current
            experience's classes once old ones exist: separated softmax, the default until 2026-12-03).
        real_auto_weight: weight of the auto (reconstruction) loss on real data.
        real_distill_weight: weight of the LwF term on real data: NET1's outputs over the classes
            NET2 knows match NET2's (tempered) outputs on the current real sequences.
        real_feature_weight: weight of the hidden-feature distillation on real data: NET1's
            top-layer outputs on the current real sequences match NET2's (limits feature drift).
        teacher_cache_mb: NET2's outputs on the experience's real sequences (for the two terms
            above) are kept, per sequence, after their first minibatch and reused in the later
            epochs (NET2 does not change within an experience) up to this many MiB, on the
            sequences' device; emptied after the experience. 0: recomputed every minibatch.
    After each experience:
        calibrate_steps: steps of class-balanced training of NET1's class head (features frozen)
            on NET2's pseudo-sequences of the old classes and the current real sequences of the
            new ones, which corrects the bias toward the newest classes; 0: none.
        calibrate_lr: Adam learning rate of that calibration.
        calibrate_on: the old classes' side of the calibration: ``"pseudo"`` (NET1's features of
            NET2's pseudo-sequences), ``"prototypes"`` (features drawn from each old class's running
            feature mean and variance, kept as statistics like the data moments and moved by the
            drift NET1's features show on the current data: hidden-state replay), or ``"both"``.
        calibrate_new_on: the new classes' side: ``"real"`` (NET1's features of the experience's
            sequences) or ``"both"`` (those and as many features drawn from the Gaussian statistics
            of them, so that every class is seen through statistics as well as examples).
        invert_steps: steps of model inversion after each experience: features drawn from each
            old class's statistics (in NET2's feature space) are turned into sequences by steering
            real sequences of the experience until NET2's final features reach them; NET1's
            features of those sequences join the pool's for the drift and the calibration
            (they show where the old classes lie under NET1 now). 0: the pool alone.
        invert_per_class: sequences inverted per old class.
        invert_lr: Adam learning rate of the inversion (on the sequences).
        invert_tail: the fraction of each sequence's last steps that the inversion steers (its
            beginning stays the real sequence's and is run once, so the cost falls with it); 1: all.
        drift: how the old classes' statistics follow NET1's features: ``"mean"`` (the mean drift
            of the current real sequences, semantic drift compensation), ``"pseudo"`` (per class,
            the drift of NET2's pseudo-sequences of that class, which lie near it) or ``"linear"``
            (default: an affine map from NET2's features to NET1's, fitted by ridge regression on
            the current real sequences and the pool's pseudo- and inverted sequences, moving
            means, principal directions and variances).
        prototype_rank: principal directions of each class's feature covariance kept with its mean
            and per-feature variance (0: a diagonal Gaussian); H * (rank + 2) numbers per class.
        align_weights: weight aligning (Zhao et al. 2020): rescale the new classes' head rows to
            the old ones' mean norm.
        transfer: ``"copy"`` (NET2 copies NET1's weights) or ``"pseudo"`` (NET2 learns NET1's
            pseudo-patterns, the papers' mechanism).
        transfer_steps, transfer_lr, reset_storage: the pseudo transfer's minibatch updates,
            Adam learning rate, and whether NET2 restarts from scratch.
    During each experience after the first:
        encoder_lr_scale: every optimizer step of NET1's layers below the class head is scaled by
            this (a slow encoder: the features old classes rely on move less; the head keeps its
            full step); 1: no scaling.
        warmup_steps: before the experience's training, full-batch Adam steps (``calibrate_lr``) of
            the new classes' head rows alone on NET1's frozen features of the experience's real
            sequences, so that the first steps' errors reach the encoder smaller; 0: none.
        seed: seed of the pseudo-pattern generator and of the method's own draws.
    """
    generator: Union[str, object] = "reverberation"
    generator_kwargs: Optional[dict] = None
    seeds: str = "current"
    steer: bool = True
    match_moments: bool = True
    pseudo_ratio: float = 0.5
    regenerate: str = "experience"
    pool_factor: float = 0.05
    pool_per_class: int = 0
    pseudo_learning: str = "sequence"
    transition_fraction: float = 1.0
    pseudo_grad_steps: Optional[int] = None
    pseudo_grad_tail: float = 0.5
    temperature: float = 2.0
    distill_weight: float = 2.0
    auto_weight: float = 2.0
    feature_weight: float = 2.0
    context_weight: float = 1.0
    real_loss: str = "all"
    real_auto_weight: float = 1.0
    real_distill_weight: float = 1.0
    real_feature_weight: float = 10.0
    teacher_cache_mb: float = 256.0
    calibrate_steps: int = 200
    calibrate_lr: float = 1e-2
    calibrate_on: str = "both"
    calibrate_new_on: str = "both"
    drift: str = "linear"
    invert_steps: int = 20
    invert_per_class: int = 10
    invert_lr: float = 0.1
    invert_tail: float = 0.5
    encoder_lr_scale: float = 1.0
    warmup_steps: int = 100
    prototype_rank: int = 16
    align_weights: bool = False
    transfer: str = "copy"
    transfer_steps: int = 300
    transfer_lr: float = 1e-3
    reset_storage: bool = False
    seed: int = 0

    def __post_init__(self):
        choices = {"seeds": ("noise", "current"), "regenerate": ("step", "epoch", "experience"),
                   "pseudo_learning": ("sequence", "transitions"), "real_loss": ("all", "current"),
                   "transfer": ("pseudo", "copy"),
                   "calibrate_on": ("pseudo", "prototypes", "both"),
                   "calibrate_new_on": ("real", "both"), "drift": ("mean", "pseudo", "linear")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be " + " or ".join(repr(a) for a in allowed)
                                 + f", got {getattr(self, name)!r}")
        for name in ("pseudo_ratio", "pool_factor", "distill_weight", "auto_weight", "feature_weight",
                     "context_weight", "real_auto_weight", "real_distill_weight", "real_feature_weight",
                     "teacher_cache_mb"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("temperature", "calibrate_lr", "transfer_lr", "invert_lr"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        v = self.encoder_lr_scale
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ValueError(f"encoder_lr_scale must be a number in [0, 1], got {v!r}")
        for name in ("pool_per_class", "calibrate_steps", "warmup_steps", "transfer_steps", "prototype_rank", "invert_steps",
                     "invert_per_class"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if self.pseudo_grad_steps is not None and (isinstance(self.pseudo_grad_steps, bool)
                                                   or not isinstance(self.pseudo_grad_steps, int)
                                                   or self.pseudo_grad_steps < 1):
            raise ValueError(f"pseudo_grad_steps must be None or an int >= 1, got {self.pseudo_grad_steps!r}")
        for name in ("invert_tail", "pseudo_grad_tail"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
                raise ValueError(f"{name} must be a number in (0, 1], got {v!r}")
        if not 0 < self.transition_fraction <= 1:
            raise ValueError(f"transition_fraction must be in (0, 1], got {self.transition_fraction}")
        if self.pseudo_learning == "transitions" and (self.generator == "static" or
                                                      getattr(self.generator, "mode", None) == "static"):
            raise ValueError("pseudo_learning='transitions' needs pseudo-sequences; the static generator "
                             "already makes (item, context) patterns")
        for k, v in (("pseudo_ratio", float), ("pool_factor", float), ("temperature", float)):
            setattr(self, k, v(getattr(self, k)))

    @classmethod
    def names(cls) -> tuple:
        return tuple(f.name for f in fields(cls))

    def as_dict(self) -> dict:
        return asdict(self)


# Named configurations (the strategy names of ``make_strategy``/the CLI) -> options on top of the
# defaults (chosen by measurement: docs/memory.md). "selfrefresh-papers": NET2 learns NET1's
# pseudo-patterns (Ans & Rousset's transfer) instead of copying its weights. "selfrefresh-plain": the dual network
# without the class-incremental additions (noise seeds, cross-entropy over all outputs, no
# distillation on real data, no calibration, no head warm-up): the library's default until 2026-11.
# "selfrefresh-gan": the recurrent GAN as the pseudo-sequence source. The papers' and the plain
# presets keep the gradient through whole pseudo-sequences (the default's tail of half is of 2026-12-02)
# and one pseudo-sequence per real one at weight 1 (the default's half at weight 2 is of 2026-12-03);
# the papers' preset keeps the separated softmax on real data it was measured with.
# The feature memory of the first real-speech default (morning of 2026-11-30): no inversion.
_DIAGONAL_MEMORY = {"drift": "mean", "prototype_rank": 0, "invert_steps": 0}
_ONE_PSEUDO_PER_REAL = {"pseudo_ratio": 1.0, "distill_weight": 1.0, "auto_weight": 1.0, "feature_weight": 1.0}

PRESETS = {
    "selfrefresh": {},
    # the papers' transfer, with the feature memory and the calibration it was measured with
    # (diagonal statistics moved by the mean drift, 100 steps on the new classes' real features
    # alone): ~200x Naive's time, so not rerun at each default
    "selfrefresh-papers": {"transfer": "pseudo", "warmup_steps": 0, "calibrate_steps": 100, "calibrate_new_on": "real",
                           "pseudo_grad_tail": 1.0, "real_loss": "current", **_DIAGONAL_MEMORY,
                           **_ONE_PSEUDO_PER_REAL},
    "selfrefresh-plain": {**_ONE_PSEUDO_PER_REAL, "seeds": "noise", "real_loss": "all", "feature_weight": 0.0,
                          "real_distill_weight": 0.0,
                          "real_feature_weight": 0.0, "calibrate_steps": 0, "invert_steps": 0,
                          "warmup_steps": 0, "pseudo_grad_tail": 1.0},
    "selfrefresh-gan": {"generator": "gan", "generator_kwargs": {"update_epochs": 200}},
}
