"""Losses of the dual network: distillation on pseudo-patterns, separated real-data loss, and the
evaluation criterion for a class head that has not grown yet.

Every function checks its arguments (metadata, plus one finiteness check of the logits) and raises
a ``TypeError`` / ``ValueError`` naming the argument, instead of returning NaN.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .._checks import check_finite, check_int, check_tensor

__all__ = ["soft_target_loss", "masked_teacher_probs", "current_classes_ce", "PaddedCrossEntropyLoss",
           "check_temperature"]


def check_temperature(temperature, who: str) -> float:
    """A finite temperature > 0 (TypeError for a non-number, ValueError otherwise)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"{who}: temperature must be a number, got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"{who}: temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def _check_logits(logits, name: str, who: str) -> Tensor:
    check_tensor(logits, name, who, 2, "(N, C)")
    if logits.shape[1] == 0:
        raise ValueError(f"{who}: {name} has no class outputs (shape {tuple(logits.shape)})")
    return check_finite(logits, name, who)


def _check_labels(y, name: str, who: str, n: int) -> Tensor:
    if not isinstance(y, Tensor):
        raise TypeError(f"{who}: {name} must be a torch.Tensor of class indices, got {type(y).__name__}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{who}: {name} must hold integer class indices, got dtype {y.dtype}")
    if y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"{who}: {name} must have shape ({n},), got {tuple(y.shape)}")
    if n and int(y.min()) < 0:
        raise ValueError(f"{who}: {name} holds a negative class label {int(y.min())}")
    return y


def masked_teacher_probs(teacher_logits: Tensor, num_outputs: int, known: Optional[Tensor],
                         temperature: float = 1.0) -> Tensor:
    """Teacher soft targets over ``num_outputs`` outputs, zero for classes the teacher never saw.

    teacher_logits (N, C_t) -> probabilities (N, num_outputs); ``known`` is a bool mask (C_t,)
    of the classes the teacher learned (None: all of its outputs).
    """
    who = "masked_teacher_probs"
    _check_logits(teacher_logits, "teacher_logits", who)
    num_outputs = check_int(num_outputs, "num_outputs", who, minimum=1)
    temperature = check_temperature(temperature, who)
    n, ct = teacher_logits.shape
    logits = torch.full((n, num_outputs), float("-inf"), device=teacher_logits.device,
                        dtype=teacher_logits.dtype)
    c = min(ct, num_outputs)
    logits[:, :c] = teacher_logits[:, :c] / temperature
    if known is not None:
        if not isinstance(known, Tensor) or known.dtype != torch.bool or known.dim() != 1:
            raise TypeError(f"{who}: known must be a 1-D bool tensor (one flag per class), got "
                            f"{type(known).__name__ if not isinstance(known, Tensor) else f'{known.dtype} {tuple(known.shape)}'}")
        mask = torch.zeros(num_outputs, dtype=torch.bool, device=logits.device)
        mask[: min(len(known), num_outputs)] = known[:num_outputs].to(logits.device)
        if not bool(mask[:c].any()):
            raise ValueError(f"{who}: known marks none of the teacher's first {c} outputs as learned")
        logits[:, ~mask] = float("-inf")
    return torch.softmax(logits, dim=1)


def soft_target_loss(student_logits: Tensor, target_probs: Tensor, temperature: float = 1.0) -> Tensor:
    """Cross-entropy of the student's tempered softmax against soft targets, times T^2.

    student_logits (N, C), target_probs (N, C) -> scalar.
    """
    who = "soft_target_loss"
    _check_logits(student_logits, "student_logits", who)
    check_tensor(target_probs, "target_probs", who, 2, "(N, C)")
    if target_probs.shape != student_logits.shape:
        raise ValueError(f"{who}: target_probs has shape {tuple(target_probs.shape)}, student_logits "
                         f"{tuple(student_logits.shape)}")
    if student_logits.shape[0] == 0:
        raise ValueError(f"{who}: empty batch")
    check_finite(target_probs, "target_probs", who)
    temperature = check_temperature(temperature, who)
    logp = F.log_softmax(student_logits / temperature, dim=1)
    # a target of exactly 0 contributes 0 even where log p underflows to -inf (0 * -inf would be NaN)
    terms = torch.where(target_probs > 0, target_probs * logp, torch.zeros_like(logp))
    return -terms.sum(1).mean() * temperature ** 2


def current_classes_ce(logits: Tensor, y: Tensor, classes: Tensor) -> Tensor:
    """Cross-entropy restricted to the outputs of ``classes`` (separated softmax, Ahn et al. 2021).

    logits (N, C), y (N,) with labels in ``classes`` (K,) -> scalar.
    """
    who = "current_classes_ce"
    _check_logits(logits, "logits", who)
    _check_labels(y, "y", who, logits.shape[0])
    if logits.shape[0] == 0:
        raise ValueError(f"{who}: empty batch")
    if not isinstance(classes, Tensor) or classes.dim() != 1:
        raise TypeError(f"{who}: classes must be a 1-D tensor of class indices, got "
                        f"{type(classes).__name__ if not isinstance(classes, Tensor) else tuple(classes.shape)}")
    _check_labels(classes, "classes", who, classes.shape[0])
    c = logits.shape[1]
    if classes.numel() == 0 or int(classes.max()) >= c:
        raise ValueError(f"{who}: classes must be a non-empty set of outputs in 0..{c - 1}, got "
                         f"{classes.tolist()}")
    if int(y.max()) >= c:
        raise ValueError(f"{who}: label {int(y.max())} is out of range for {c} outputs")
    lookup = torch.full((c,), -1, dtype=torch.long, device=logits.device)
    lookup[classes] = torch.arange(len(classes), device=logits.device)
    target = lookup[y]
    if bool((target < 0).any()):
        raise ValueError(f"{who}: labels {sorted(set(y[target < 0].tolist()))} are not among classes "
                         f"{classes.tolist()}")
    return F.cross_entropy(logits[:, classes], target)


class PaddedCrossEntropyLoss(nn.CrossEntropyLoss):
    """Cross-entropy that evaluates a class head smaller than the labels, as Avalanche's
    ``IncrementalClassifier`` does.

    When a label is beyond the model's outputs (a class-incremental model evaluated on the whole
    test stream before its head has grown to the later classes), the missing outputs are filled with
    ``mask_value`` (-1000, Avalanche's mask value): such samples count as errors and their loss is
    large but finite. This only happens without gradient (evaluation); in training a label beyond
    the head raises a ``ValueError`` saying so (grow the head, or build the model with more
    outputs), since padded outputs cannot learn. Labels must be integer class indices; logits
    with NaN or inf raise a ``ValueError``.
    """

    def __init__(self, mask_value: float = -1000.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002 - torch's names
        who = "criterion"
        check_tensor(input, "logits", who, 2, "(batch, classes)")
        _check_labels(target, "labels", who, input.shape[0])
        check_finite(input, "logits", who)
        target = target.long()
        c = input.shape[1]
        top = int(target.max()) if target.numel() else -1
        if top >= c:
            if torch.is_grad_enabled() and input.requires_grad:
                raise ValueError(f"{who}: label {top} is out of range for a model with {c} outputs; build the "
                                 f"model with num_classes >= {top + 1} or grow its head before training")
            pad = input.new_full((input.shape[0], top + 1 - c), self.mask_value)
            input = torch.cat([input, pad], dim=1)
        return super().forward(input, target)
