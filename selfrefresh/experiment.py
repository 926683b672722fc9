"""Backward-compatible names of :mod:`selfrefresh.runs` (where the code now lives).

``from selfrefresh.experiment import RunConfig, run_experiment, ...`` keeps working.
"""
from .runs import (STREAM_PRESETS, ExperimentError, RunConfig, aggregate, build_model,  # noqa: F401
                   collect_summaries, load_checkpoint, load_stream, markdown_table, matrix_metrics,
                   resolve_device, run_cell, run_dir, run_experiment, stream_info, stream_kwargs_for,
                   write_report)

__all__ = ["RunConfig", "ExperimentError", "STREAM_PRESETS", "resolve_device", "load_stream", "stream_info",
           "build_model", "run_experiment", "run_dir", "matrix_metrics", "aggregate", "markdown_table",
           "collect_summaries", "write_report", "run_cell"]
