"""The dual self-refreshing network (Ans & Rousset): config, method, plugin, strategy.

* :mod:`.config`: :class:`SelfRefreshConfig` (every hyper-parameter, validated) and ``PRESETS``;
* :mod:`.method`: :class:`DualMemory`, NET2 and the losses, plain PyTorch;
* :mod:`.pool`: the pool of pseudo-patterns reused over an experience;
* :mod:`.checks`: the minibatch checks and the head's growth;
* :mod:`.calibration`: the class head calibrated on balanced features after an experience;
* :mod:`.plugin`: :class:`SelfRefreshPlugin` for any Avalanche supervised strategy;
* :mod:`.strategy`: :class:`SelfRefresh`, the plugin with NET1's real and pseudo passes fused.
"""
from .config import PRESETS, SelfRefreshConfig
from ...generators.registry import make_generator
from .calibration import align_class_weights
from .method import DualMemory
from .plugin import SelfRefreshPlugin
from .strategy import SelfRefresh

__all__ = ["SelfRefresh", "SelfRefreshPlugin", "SelfRefreshConfig", "DualMemory", "PRESETS", "make_generator",
           "align_class_weights"]
