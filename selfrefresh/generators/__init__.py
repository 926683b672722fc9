"""Pseudo-pattern sources: reverberation, noise, recurrent GAN... one protocol (``sample(n)``)."""
from .base import PseudoBatch, PseudoGenerator, label_with

__all__ = ["PseudoBatch", "PseudoGenerator", "label_with"]
