"""Every pseudo-pattern generator by name, and :func:`make_generator`.

A generator is registered by one :class:`GeneratorSpec` line in :data:`GENERATORS`: its name, a
function building it from keyword arguments (heavy modules imported there, on first use), and
whether it learns from data (then it needs the data's shape: ``seq_len``, ``n_features``,
``num_classes``; the others take ``seq_len`` only). Names are accepted with ``-`` or ``_``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Union

from .reverberation import Noise, Reverberation

__all__ = ["GeneratorSpec", "GENERATORS", "GENERATOR_NAMES", "STRATEGY_REVERBERATION_DEFAULTS", "generator_spec",
           "make_generator"]

# R = 5 re-injections after 5 steering steps toward NET2's classes (10 steps gave the same accuracy
# from seeds taken in the current experience, 20 % slower: docs/memory.md). What steering and R are
# worth (paired by seed): the "no steering" and "R = ..." rows of docs/ablations.md.
STRATEGY_REVERBERATION_DEFAULTS = {"reverberations": 5, "steer_steps": 5}


@dataclass(frozen=True)
class GeneratorSpec:
    """One registered generator.

    Attributes:
        name: its name (``generator=`` of the SelfRefresh strategy).
        build: keyword arguments -> a generator following :class:`~selfrefresh.generators.PseudoGenerator`.
        learned: it learns the data (``update``) and needs ``seq_len``, ``n_features``,
            ``num_classes`` and ``device`` to be built; else it takes ``seq_len`` (optional).
        summary: one line for help texts.
    """
    name: str
    build: Callable
    learned: bool = False
    summary: str = ""


def _reverberation(**kwargs):
    return Reverberation(**{**STRATEGY_REVERBERATION_DEFAULTS, **kwargs})


def _static(**kwargs):
    return Reverberation(mode="static", **kwargs)


def _noise(**kwargs):
    return Noise(**{k: v for k, v in kwargs.items() if k in ("seq_len", "noise_std", "seeds")})


def _gan(**kwargs):
    from .gan import RecurrentGAN  # optional heavy import
    return RecurrentGAN(**kwargs)


def _ar_rnn(**kwargs):
    from .ar_rnn import ARGenerativeRNN
    return ARGenerativeRNN(**kwargs)


def _vae(**kwargs):
    from .vae import SequenceVAE
    return SequenceVAE(**kwargs)


_SPECS = (
    GeneratorSpec("reverberation", _reverberation, summary="whole pseudo-sequences by steered reverberation "
                  f"(defaults {STRATEGY_REVERBERATION_DEFAULTS})"),
    GeneratorSpec("static", _static, summary="Ans et al. (2004) (item, context) pseudo-patterns"),
    GeneratorSpec("noise", _noise, summary="random sequences around the data moments (pseudo-rehearsal)"),
    GeneratorSpec("gan", _gan, learned=True, summary="recurrent conditional GAN learned from each experience"),
    GeneratorSpec("ar-rnn", _ar_rnn, learned=True, summary="autoregressive GRU learned by maximum likelihood"),
    GeneratorSpec("vae", _vae, learned=True, summary="class-conditional sequence VAE"),
)

#: name -> spec.
GENERATORS: Dict[str, GeneratorSpec] = {s.name: s for s in _SPECS}
GENERATOR_NAMES = tuple(GENERATORS)


def generator_spec(name: str) -> GeneratorSpec:
    """The spec registered under ``name`` (``-`` or ``_`` spelling); ``ValueError`` if none."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; choose " + ", ".join(repr(n) for n in GENERATOR_NAMES)
                         + " or pass an instance with .network and .sample(n)")
    return GENERATORS[key]


def make_generator(generator: Union[str, object, None], **kwargs):
    """A generator from a name (see :data:`GENERATORS`; None: ``"reverberation"``) or an instance as is.

    ``kwargs`` go to the named generator's constructor (``"noise"`` keeps only ``seq_len``,
    ``noise_std`` and ``seeds``; ``"reverberation"`` starts from
    :data:`STRATEGY_REVERBERATION_DEFAULTS`); they are ignored for an instance.
    """
    if generator is None:
        generator = "reverberation"
    if isinstance(generator, str):
        return generator_spec(generator).build(**kwargs)
    if not hasattr(generator, "sample"):
        raise TypeError(f"a generator needs a sample(n) method; got {type(generator).__name__}")
    return generator
