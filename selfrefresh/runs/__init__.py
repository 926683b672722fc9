"""Runs: from names to numbers and reports.

* :mod:`~selfrefresh.runs.config`: :class:`RunConfig`, what defines a run, and its identity;
* :mod:`~selfrefresh.runs.build`: names to a device, a stream and a model;
* :mod:`~selfrefresh.runs.loop`: the train-then-evaluate loop (also used by the benchmark scripts);
* :mod:`~selfrefresh.runs.run`: :func:`run_experiment`, that loop with checkpoints and resume;
* :mod:`~selfrefresh.runs.evaluation`: progress bar, evaluator, optional Avalanche loggers;
* :mod:`~selfrefresh.runs.options`: which ``--option`` each strategy takes;
* :mod:`~selfrefresh.runs.report` and :mod:`~selfrefresh.runs.plots`: tables and curves over seeds;
* :mod:`~selfrefresh.runs.io`: atomic writes; :mod:`~selfrefresh.runs.threads`: the thread count.
"""
from .build import STREAM_PRESETS, build_model, load_stream, resolve_device, stream_info, stream_kwargs_for
from .config import RunConfig, canonical_stream
from .errors import ExperimentError
from .options import options_for
from .report import aggregate, collect_summaries, markdown_table, matrix_metrics, write_report
from .run import check_run_dir, load_checkpoint, run_cell, run_dir, run_experiment
from .threads import DEFAULT_THREADS, set_threads

__all__ = ["RunConfig", "ExperimentError", "STREAM_PRESETS", "resolve_device", "load_stream", "stream_info",
           "stream_kwargs_for", "build_model", "run_experiment", "run_dir", "check_run_dir", "load_checkpoint",
           "matrix_metrics", "aggregate", "markdown_table", "collect_summaries", "write_report", "run_cell",
           "canonical_stream", "options_for", "DEFAULT_THREADS", "set_threads",
           "ProgressBar", "summary_evaluator", "experience_accuracies"]

_EVALUATION = ("ProgressBar", "summary_evaluator", "experience_accuracies")


def __getattr__(name):
    # Avalanche is imported only when these are used
    if name in _EVALUATION:
        from . import evaluation
        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
