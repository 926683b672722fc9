"""Pseudo-pattern sources: reverberation, noise, recurrent GAN, and generative baselines.

All follow one protocol (:class:`PseudoGenerator`): a ``network`` (the storage network that
labels) and ``sample(n) -> PseudoBatch``; learned generators add ``update(dataset, network)``.
"""
from .base import PseudoBatch, PseudoGenerator, label_transitions, label_with
from .baselines import ARGenerativeRNN, SequenceVAE, avalanche_generative_replay
from .gan import RecurrentGAN
from .gan_base import DivergenceWarning, LearnedSequenceGenerator
from .reverberation import Noise, Reverberation

__all__ = ["PseudoBatch", "PseudoGenerator", "label_with", "label_transitions", "Reverberation", "Noise", "RecurrentGAN",
           "ARGenerativeRNN", "SequenceVAE", "LearnedSequenceGenerator", "DivergenceWarning",
           "avalanche_generative_replay"]
