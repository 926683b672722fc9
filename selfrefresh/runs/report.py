"""From run summaries to a report: metrics on the accuracy matrix, mean ± std over seeds, tables.

Definitions on the matrix ``A`` (T experiences): final average accuracy = mean_j A[T-1, j];
forgetting of experience j < T-1 = max_{i<T-1} A[i, j] - A[T-1, j] (Chaudhry et al. 2018),
averaged over j; BWT = mean_{j<T-1} (A[T-1, j] - A[j, j]) (Lopez-Paz & Ranzato 2017).

Runs are grouped by stream, strategy **and settings** (epochs, hidden size, ...): seeds of runs
made with other settings are never averaged into one row.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from .config import settings_of
from .errors import ExperimentError
from .io import read_json, write_json, write_text

__all__ = ["matrix_metrics", "collect_summaries", "aggregate", "markdown_table", "write_report"]


def matrix_metrics(acc) -> dict:
    """Final average accuracy, average forgetting and BWT of an accuracy matrix (see module doc)."""
    a = np.asarray(acc, dtype=float)
    final = a[-1]
    out = {"final_average_accuracy": float(final.mean()), "average_forgetting": None, "bwt": None}
    if a.shape[0] == a.shape[1] and a.shape[0] > 1:
        t = a.shape[0]
        out["average_forgetting"] = float(np.mean([a[:t - 1, j].max() - final[j] for j in range(t - 1)]))
        out["bwt"] = float(np.mean([final[j] - a[j, j] for j in range(t - 1)]))
    return out


def collect_summaries(paths: Iterable[os.PathLike]) -> list:
    """Run summaries from run folders (searched recursively for ``summary.json``), summary files, or
    report/benchmark JSON files holding a ``"runs"`` list."""
    runs = []
    paths = list(paths)
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ExperimentError(f"{p} does not exist; give run folders or result JSON files")
        files = sorted(p.rglob("summary.json")) if p.is_dir() else [p]
        if p.is_dir() and not files:
            files = sorted(p.glob("*.json"))
        for f in files:
            data = read_json(f)
            if isinstance(data, dict) and "accuracy_matrix" in data:
                runs.append(data)
            elif isinstance(data, dict) and isinstance(data.get("runs"), list):
                runs.extend(data["runs"])
    if not runs:
        raise ExperimentError("no results found in " + ", ".join(str(p) for p in paths)
                              + "; give run folders (with summary.json) or result JSON files")
    return runs


_FIELDS = ("final_average_accuracy", "average_forgetting", "bwt", "stored_real_samples", "wall_time_s")


def _key(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True, default=list)


def _groups(runs: Sequence[dict]) -> dict:
    """(stream, strategy, settings key) -> {"settings", "runs", "label"}; the label is the strategy,
    followed by the settings that tell its groups apart when it was run with several."""
    groups: dict = {}
    for r in runs:
        settings = settings_of(r)
        g = groups.setdefault((r["stream"], r["strategy"], _key(settings)), {"settings": settings, "runs": []})
        g["runs"].append(r)
    for (stream, strategy, _), g in groups.items():
        siblings = [h["settings"] for (s, t, _), h in groups.items() if (s, t) == (stream, strategy)]
        names = sorted({k for h in siblings for k in h})
        diff = [k for k in names if len({_key({k: h.get(k)}) for h in siblings}) > 1]
        g["label"] = strategy + (" (" + ", ".join(f"{k} {g['settings'].get(k)}" for k in diff) + ")" if diff else "")
    return groups


def aggregate(runs: Sequence[dict]) -> list:
    """One row per (stream, strategy, settings): mean and std over seeds of the summary fields, and
    the wall time's ratio to Naive's on the same stream with the same settings (``None`` without
    such a naive run). ``label`` names the strategy and, when it was run with several settings,
    the settings that tell the rows apart."""
    rows = []
    for (stream, strategy, _), g in _groups(runs).items():
        rs = g["runs"]
        row = {"stream": stream, "strategy": strategy, "label": g["label"], "settings": g["settings"],
               "seeds": sorted(r["seed"] for r in rs), "n_experiences": rs[0].get("n_experiences")}
        for f in _FIELDS:
            vals = [r[f] for r in rs if r.get(f) is not None]
            row[f] = float(np.mean(vals)) if vals else None
            row[f + "_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else (0.0 if vals else None)
        rows.append(row)
    for row in rows:
        naive = [r for r in rows if r["stream"] == row["stream"] and r["strategy"] == "naive"
                 and _shared(r["settings"]) == _shared(row["settings"])]
        row["wall_time_ratio_to_naive"] = (row["wall_time_s"] / naive[0]["wall_time_s"]
                                           if naive and naive[0]["wall_time_s"] else None)
    order = {"naive": 0, "cumulative": 99, "joint": 100}
    rows.sort(key=lambda r: (r["stream"], order.get(r["strategy"], 50), r["label"]))
    return rows


def _shared(settings: dict) -> str:
    """The settings every strategy of one comparison shares (not the strategy's own options)."""
    return _key({k: v for k, v in settings.items() if k != "strategy_options"})


def _pm(mean, std, fmt="{:.3f}") -> str:
    if mean is None:
        return "-"
    return fmt.format(mean) + (" ± " + fmt.format(std) if std else "")


def markdown_table(rows: Sequence[dict]) -> str:
    """The rows of :func:`aggregate` as a markdown table."""
    lines = ["| stream | strategy | seeds | final avg acc | avg forgetting | BWT | stored real | wall s | "
             "x Naive |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r["wall_time_ratio_to_naive"] is None else f"{r['wall_time_ratio_to_naive']:.2f}"
        lines.append(f"| {r['stream']} | {r.get('label', r['strategy'])} | {len(r['seeds'])} | "
                     f"{_pm(r['final_average_accuracy'], r['final_average_accuracy_std'])} | "
                     f"{_pm(r['average_forgetting'], r['average_forgetting_std'])} | "
                     f"{_pm(r['bwt'], r['bwt_std'])} | "
                     f"{_pm(r['stored_real_samples'], r['stored_real_samples_std'], '{:.0f}')} | "
                     f"{_pm(r['wall_time_s'], r['wall_time_s_std'], '{:.1f}')} | {ratio} |")
    return "\n".join(lines)


def write_report(runs: Sequence[dict], out: os.PathLike, title: str = "selfrefresh results",
                 command: Optional[str] = None) -> dict:
    """``report.json``, ``report.md`` and the forgetting-curve PNGs of ``runs`` in ``out``."""
    from .plots import plot_forgetting_curves, plot_stream_average
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = aggregate(runs)
    table = markdown_table(rows)
    # curves are averaged per label: runs made with other settings stay apart
    labelled = [dict(r, strategy=g["label"]) for g in _groups(runs).values() for r in g["runs"]]
    figures = []
    for stream in sorted({r["stream"] for r in runs}):
        rs = [r for r in labelled if r["stream"] == stream]
        figures.append(plot_forgetting_curves(rs, out / f"forgetting_{stream}.png"))
        figures.append(plot_stream_average(rs, out / f"average_{stream}.png"))
    md = [f"# {title}", ""]
    if command:
        md += ["Made with:", "", "```", command, "```", ""]
    md += [table, "", "Final avg acc: accuracy on each experience's test set after the last experience, "
           "averaged over experiences (not pooled). Forgetting: max earlier accuracy minus final, averaged "
           "over all but the last experience. BWT: final minus just-learned accuracy, same average.", ""]
    md += [f"![{Path(f).stem}]({Path(f).name})" for f in figures]
    write_text(out / "report.md", "\n".join(md) + "\n")
    report = {"title": title, "command": command, "table": rows, "runs": list(runs)}
    write_json(out / "report.json", report)
    return report
