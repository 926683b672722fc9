"""A-posteriori analysis of what recurrent networks learned (Karpathy, Johnson & Fei-Fei 2015 style).

* :mod:`.units`: unit traces and the input windows that drive each unit most (motifs);
* :mod:`.gates`: LSTM/GRU gate values and their saturation per unit;
* :mod:`.memory`: memory horizon from Jacobian norms and from perturbation decay;
* :mod:`.attractors`: reverberation attractors of an auto-hetero network, across checkpoints;
* :mod:`.plots`: paper figures (matplotlib, no pyplot state); :mod:`.report`: ``analyse`` writes
  them with a markdown report; :mod:`.cli`: ``analyse_command`` for checkpoints and run dirs.
"""
from ._common import LayerTrace, recurrent_layer, step_trace
from .attractors import (AttractorSummary, attractor_evolution, cluster_points, find_attractors, random_seeds,
                         reverberate, reverberation_memory)
from .gates import GATE_NAMES, GateSaturation, gate_activations, gate_saturation
from .memory import (MemoryCurve, compare_generators, compare_memory, gradient_memory, horizon_from_curve,
                     noise_map, perturbation_memory, sequence_map)
from .units import Motif, select_units, top_windows, unit_activations, unit_motifs
from .report import analyse
from .cli import analyse_command, load_checkpoint

__all__ = [
    "LayerTrace", "recurrent_layer", "step_trace",
    "Motif", "unit_activations", "select_units", "top_windows", "unit_motifs",
    "GATE_NAMES", "GateSaturation", "gate_activations", "gate_saturation",
    "MemoryCurve", "horizon_from_curve", "sequence_map", "gradient_memory", "perturbation_memory",
    "compare_memory", "noise_map", "compare_generators",
    "AttractorSummary", "random_seeds", "reverberate", "cluster_points", "find_attractors",
    "attractor_evolution", "reverberation_memory",
    "analyse", "analyse_command", "load_checkpoint",
]
