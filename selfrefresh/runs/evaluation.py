"""What a run shows and logs: a progress bar, Avalanche's evaluator (per-experience accuracy,
forgetting, BWT) with its CSV logs, and Avalanche's TensorBoard or Weights & Biases loggers on
request -- never Avalanche's full text log.

For your own loop (the README's Quick start)::

    strategy = SelfRefresh(..., plugins=[ProgressBar()], evaluator=summary_evaluator())
    acc = experience_accuracies(strategy.eval(bench.test_stream))   # [A[i, 0], A[i, 1], ...]
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Optional, Sequence

from avalanche.core import SupervisedPlugin

from .config import LOGGERS
from .errors import ExperimentError, one_line

__all__ = ["ProgressBar", "summary_evaluator", "run_evaluator", "check_loggers", "experience_accuracies",
           "pooled_accuracy"]

class ProgressBar(SupervisedPlugin):
    """One tqdm bar over all training minibatches of a run.

    At each experience the bar adds what the strategy's own data loader will run (Cumulative's
    loader grows with every experience), so it never runs past its total; ``planned`` (minibatches
    x epochs of each training call still to come) only makes the first total a good estimate.
    """

    def __init__(self, desc: str = "training", planned: Sequence[int] = (), enabled: bool = True):
        super().__init__()
        from tqdm.auto import tqdm
        self.planned = list(planned)
        self._calls = 0
        self.bar = tqdm(total=sum(self.planned) or None, desc=desc, disable=not enabled, leave=False,
                        dynamic_ncols=True)

    def before_training_exp(self, strategy, **kwargs):
        this = len(strategy.dataloader) * strategy.train_epochs
        self._calls += 1
        self.bar.total = self.bar.n + this + sum(self.planned[self._calls:])
        self.bar.refresh()

    def after_training_iteration(self, strategy, **kwargs):
        self.bar.update(1)
        if strategy.loss is not None and self.bar.n % 10 == 0:
            self.bar.set_postfix(exp=strategy.experience.current_experience, loss=f"{_scalar(strategy.loss):.3f}")

    def close(self):
        self.bar.close()


def _scalar(loss) -> float:
    """A loss as a float, without autograd's warning about a tensor that requires grad."""
    return float(loss.detach()) if hasattr(loss, "detach") else float(loss)


def _metrics():
    from avalanche.evaluation.metrics import accuracy_metrics, bwt_metrics, forgetting_metrics
    return (accuracy_metrics(experience=True, stream=True), forgetting_metrics(experience=True, stream=True),
            bwt_metrics(experience=True, stream=True))


def summary_evaluator():
    """Avalanche's evaluator with per-experience accuracy, forgetting and BWT, and no text log."""
    from avalanche.training.plugins import EvaluationPlugin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No loggers specified": on purpose
        return EvaluationPlugin(*_metrics(), loggers=[])


def run_evaluator(folder: Path, log: Sequence[str] = (), log_root: Optional[Path] = None, name: str = "run",
                  config: Optional[dict] = None):
    """The evaluator of a run: CSV logs in ``folder``, plus the loggers named in ``log``
    (``"tensorboard"``: event files in ``<log_root>/tb/<name>``; ``"wandb"``: a W&B run ``name``,
    its local files in ``<log_root>/wandb``)."""
    from avalanche.logging import CSVLogger
    from avalanche.training.plugins import EvaluationPlugin
    folder.mkdir(parents=True, exist_ok=True)
    log_root = Path(log_root or folder)
    loggers = [CSVLogger(log_folder=str(folder))]
    loggers += [_logger(kind, log_root, name, config) for kind in dict.fromkeys(log)]
    return EvaluationPlugin(*_metrics(), loggers=loggers)


def check_loggers(log: Sequence[str]) -> None:
    """One-line errors for loggers that cannot work here (unknown, or wandb missing or too new)."""
    for kind in log:
        if kind not in LOGGERS:
            raise ExperimentError(f"unknown logger {kind!r}; choose one of: {', '.join(LOGGERS)}")
        if kind != "wandb":
            continue
        try:
            import wandb
        except ImportError:
            raise ExperimentError("--log wandb needs the wandb package: pip install wandb") from None
        missing = [n for n, ok in (("wandb.viz", hasattr(wandb, "viz")),
                                   ("wandb.util.generate_id", hasattr(getattr(wandb, "util", None), "generate_id")))
                   if not ok]
        if missing:  # Avalanche 0.6's WandBLogger calls both
            raise ExperimentError(f"--log wandb: wandb {getattr(wandb, '__version__', '?')} lacks "
                                  f"{' and '.join(missing)}, which Avalanche's WandBLogger uses; install an older "
                                  "wandb or use --log tensorboard")


def _logger(kind: str, root: Path, name: str, config: Optional[dict]):
    if kind == "tensorboard":
        try:
            from avalanche.logging import TensorboardLogger
        except ImportError as err:
            raise ExperimentError(f"--log tensorboard needs the tensorboard package ({err}); "
                                  "pip install tensorboard") from None
        return TensorboardLogger(tb_log_dir=str(root / "tb" / name))
    if kind == "wandb":
        check_loggers([kind])
        from avalanche.logging import WandBLogger
        (root / "wandb").mkdir(parents=True, exist_ok=True)
        try:
            return WandBLogger(project_name="selfrefresh", run_name=name, dir=str(root / "wandb"), config=config,
                               save_code=False)
        except Exception as err:  # noqa: BLE001 - wandb's own failures (login, network)
            raise ExperimentError(f"--log wandb: Avalanche's WandBLogger failed ({one_line(err)}); set "
                                  "WANDB_MODE=offline to log locally, or use --log tensorboard") from None
    raise ExperimentError(f"unknown logger {kind!r}; choose one of: {', '.join(LOGGERS)}")


_EXP_KEY = re.compile(r"Top1_Acc_Exp/eval_phase/test_stream/(?:.*/)?Exp(\d+)")


def experience_accuracies(metrics: dict) -> list:
    """Accuracy on each test experience, in order, from the dict ``strategy.eval`` returns."""
    found = {}
    for key, value in metrics.items():
        match = _EXP_KEY.fullmatch(key)
        if match:
            found[int(match.group(1))] = float(value)
    if not found:
        raise RuntimeError("Avalanche reported no per-experience test accuracy")
    missing = [j for j in range(max(found) + 1) if j not in found]
    if missing:
        raise RuntimeError(f"Avalanche reported no accuracy for test experience {missing[0]}")
    return [found[j] for j in range(max(found) + 1)]


def pooled_accuracy(metrics: dict) -> Optional[float]:
    """Accuracy pooled over all test samples (Avalanche's stream accuracy), or ``None``."""
    for key, value in metrics.items():
        if key.startswith("Top1_Acc_Stream/eval_phase/test_stream"):
            return float(value)
    return None
