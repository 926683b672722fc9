"""Pseudo-pattern sources: reverberation, noise, recurrent GAN... one protocol (``sample(n)``)."""
from .base import PseudoBatch, PseudoGenerator, label_with
from .reverberation import Noise, Reverberation

__all__ = ["PseudoBatch", "PseudoGenerator", "label_with", "Reverberation", "Noise"]
