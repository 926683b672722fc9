"""Pseudo-pattern sources: reverberation, noise, recurrent GAN, and generative baselines.

All follow one protocol (:class:`PseudoGenerator`): ``configure(network, classes, moments)`` (the
storage network that labels, the classes to stand for, the data moments) and
``sample(n) -> PseudoBatch``; learned generators add ``update(dataset, network)``. They are
registered by name in :data:`GENERATORS` (:func:`make_generator`).
"""
from .ar_rnn import ARGenerativeRNN
from .base import PseudoBatch, PseudoGenerator, configure_generator, label_transitions, label_with
from .gan import RecurrentGAN
from .learned import DivergenceWarning, LearnedSequenceGenerator
from .registry import GENERATORS, make_generator
from .reverberation import Noise, Reverberation
from .vae import AvalancheSequenceVAE, SequenceVAE

__all__ = ["PseudoBatch", "PseudoGenerator", "configure_generator", "label_with", "label_transitions",
           "Reverberation", "Noise", "RecurrentGAN", "ARGenerativeRNN", "SequenceVAE", "AvalancheSequenceVAE",
           "LearnedSequenceGenerator", "DivergenceWarning", "GENERATORS", "make_generator"]
