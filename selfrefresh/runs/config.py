"""What defines one run (:class:`RunConfig`) and the part of it a folder must match (``identity``)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..models import READOUTS
from .errors import ExperimentError

__all__ = ["RunConfig", "LOGGERS", "canonical_stream", "identity_of_older_version", "settings_of"]

# Avalanche loggers a run can hand its metrics to (besides its CSV logs)
LOGGERS = ("tensorboard", "wandb")


def canonical_stream(name: str) -> str:
    """The command-line name of a stream spelled with ``_`` or ``-`` (``japanese_vowels`` ->
    ``japanese-vowels``); other names are returned unchanged."""
    from ..streams.registry import canonical_stream_name
    if not isinstance(name, str):
        return name
    try:
        return canonical_stream_name(name)
    except ValueError:
        return name


@dataclass
class RunConfig:
    """Everything that defines one run (one stream, one strategy, one seed).

    ``progress``, ``device`` and ``log`` (Avalanche loggers: ``"tensorboard"``, ``"wandb"``) change
    how a run is shown or where it runs, not its numbers: they are not part of :meth:`identity`.
    """
    stream: str
    strategy: str
    seed: int = 0
    cell: str = "gru"
    hidden_size: int = 64
    readout: str = "mean"                   # the model's class head: "mean" over steps or "last" step
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    device: str = "auto"
    size: str = "full"                      # "full" (the stream's defaults) or "small" (STREAM_PRESETS)
    stream_kwargs: dict = field(default_factory=dict)
    strategy_options: dict = field(default_factory=dict)
    progress: bool = True
    log: tuple = ()

    def __post_init__(self):
        self.stream = canonical_stream(self.stream)
        if self.readout not in READOUTS:
            raise ExperimentError(f"unknown readout {self.readout!r}; choose {' or '.join(READOUTS)}")

    def identity(self) -> dict:
        """The settings a run folder and a checkpoint must match to be resumed."""
        d = asdict(self)
        for key in ("progress", "device", "log"):
            d.pop(key)
        return json.loads(json.dumps(d, default=list))


def identity_of_older_version(identity: dict) -> dict:
    """A recorded run identity with the settings added since (at the values runs had then):
    runs recorded before the readout was a setting read the final step."""
    return {"readout": "last", **identity} if isinstance(identity, dict) else identity


def settings_of(summary: dict) -> dict:
    """The settings of a run summary other than its stream, strategy and seed (for grouping runs).

    Summaries written before the settings were recorded give the fields they hold."""
    settings = summary.get("settings")
    if settings is None:
        settings = {k: summary.get(k) for k in ("cell", "hidden_size", "epochs", "batch_size", "lr", "size")}
    settings = identity_of_older_version(settings)
    return {k: v for k, v in settings.items() if k not in ("stream", "strategy", "seed")}
