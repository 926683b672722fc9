"""Losses of the dual network: distillation on pseudo-patterns, separated real-data loss."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["soft_target_loss", "masked_teacher_probs", "current_classes_ce"]


def masked_teacher_probs(teacher_logits: Tensor, num_outputs: int, known: Optional[Tensor],
                         temperature: float = 1.0) -> Tensor:
    """Teacher soft targets over ``num_outputs`` outputs, zero for classes the teacher never saw.

    teacher_logits (N, C_t) -> probabilities (N, num_outputs); ``known`` is a bool mask (C_t,)
    of the classes the teacher learned (None: all of its outputs).
    """
    n, ct = teacher_logits.shape
    logits = torch.full((n, num_outputs), float("-inf"), device=teacher_logits.device,
                        dtype=teacher_logits.dtype)
    c = min(ct, num_outputs)
    logits[:, :c] = teacher_logits[:, :c] / temperature
    if known is not None:
        mask = torch.zeros(num_outputs, dtype=torch.bool, device=logits.device)
        mask[: min(len(known), num_outputs)] = known[:num_outputs].to(logits.device)
        logits[:, ~mask] = float("-inf")
    return torch.softmax(logits, dim=1)


def soft_target_loss(student_logits: Tensor, target_probs: Tensor, temperature: float = 1.0) -> Tensor:
    """Cross-entropy of the student's tempered softmax against soft targets, times T^2.

    student_logits (N, C), target_probs (N, C) -> scalar.
    """
    logp = F.log_softmax(student_logits / temperature, dim=1)
    return -(target_probs * logp).sum(1).mean() * temperature ** 2


def current_classes_ce(logits: Tensor, y: Tensor, classes: Tensor) -> Tensor:
    """Cross-entropy restricted to the outputs of ``classes`` (separated softmax, Ahn et al. 2021).

    logits (N, C), y (N,) with labels in ``classes`` (K,) -> scalar.
    """
    lookup = torch.full((logits.shape[1],), -1, dtype=torch.long, device=logits.device)
    lookup[classes] = torch.arange(len(classes), device=logits.device)
    return F.cross_entropy(logits[:, classes], lookup[y])
