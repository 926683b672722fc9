"""selfrefresh.runs: results are never lost or mixed, the run's output stays short, threads."""
import json
import os
import sys

import pytest
import torch

from selfrefresh.runs import (ExperimentError, RunConfig, aggregate, canonical_stream, markdown_table,
                              matrix_metrics, options_for, run_dir, run_experiment, set_threads)
from selfrefresh.runs.io import atomic_file, read_json, writable_folder, write_json
from test_experiment import _cfg, _toy


@pytest.fixture(scope="module")
def toy():
    return _toy()


# --------------------------------------------------------------------------- atomic writes

def test_atomic_file_replaces_whole_or_not_at_all(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_file(path) as f:
            f.write('{"a": ')  # half written, then the process fails
            raise RuntimeError("interrupted")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary file left
    write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the mode of a plain open()


def test_every_run_file_goes_through_the_atomic_helper(tmp_path, toy, monkeypatch):
    import selfrefresh.runs.io as io
    written = []
    real = io.atomic_file.__wrapped__

    def spy(path, *args, **kwargs):
        written.append(os.path.basename(path))
        return real(path, *args, **kwargs)
    import contextlib
    monkeypatch.setattr(io, "atomic_file", contextlib.contextmanager(spy))
    import selfrefresh._files as files
    import selfrefresh.runs.plots as plots
    import selfrefresh.runs.run as run
    monkeypatch.setattr(files, "atomic_file", io.atomic_file)  # write_text / write_json live there
    monkeypatch.setattr(run, "atomic_file", io.atomic_file)
    monkeypatch.setattr(plots, "atomic_file", io.atomic_file)
    from selfrefresh.runs import collect_summaries, write_report
    run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    write_report(collect_summaries([tmp_path]), tmp_path)
    assert {"settings.json", "checkpoint.pt", "accuracy_matrix.csv", "model.pt", "summary.json", "report.md",
            "report.json", "forgetting_toy.png", "average_toy.png"} <= set(written)


def test_damaged_json_is_named(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text('{"stream": "speech", "accuracy_')
    with pytest.raises(ExperimentError, match=f"{path} is damaged: .*; delete it or use --overwrite"):
        read_json(path)


def test_writable_folder_refuses_files_and_unwritable_folders(tmp_path, monkeypatch):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ExperimentError, match="is a file, not a folder"):
        writable_folder(f)
    with pytest.raises(ExperimentError, match="cannot write to --out .*file/sub"):
        writable_folder(f / "sub")
    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    with pytest.raises(ExperimentError, match="cannot write to --out .*: Permission denied"):
        writable_folder(tmp_path / "ro")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_writable_folder_refuses_a_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ExperimentError, match="Permission denied"):
            writable_folder(ro)
    finally:
        ro.chmod(0o755)


# --------------------------------------------------------------------------- one folder, one run

def test_rerun_without_resume_refuses_and_keeps_the_results(tmp_path, toy):
    run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    summary = run_dir(tmp_path, _cfg("naive")) / "summary.json"
    before = summary.read_bytes()
    with pytest.raises(ExperimentError, match="already holds this run; use --resume .* or --overwrite"):
        run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    assert summary.read_bytes() == before


def test_other_settings_refuse_unless_overwrite(tmp_path, toy):
    run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    folder = run_dir(tmp_path, _cfg("naive"))
    with pytest.raises(ExperimentError, match="other settings \\(epochs 2 there, 3 here\\)"):
        run_experiment(_cfg("naive", epochs=3), tmp_path, benchmark=toy)
    with pytest.raises(ExperimentError, match="other settings"):
        run_experiment(_cfg("naive", epochs=3), tmp_path, benchmark=toy, resume=True)
    assert read_json(folder / "settings.json")["identity"]["epochs"] == 2
    s = run_experiment(_cfg("naive", epochs=3), tmp_path, benchmark=toy, overwrite=True)
    assert s["epochs"] == 3 and s["settings"] == _cfg("naive", epochs=3).identity()
    assert read_json(folder / "settings.json")["identity"]["epochs"] == 3
    assert [p.name for p in (folder / "avalanche_logs").iterdir()] == ["from_exp0"]


def test_resume_names_a_damaged_summary(tmp_path, toy):
    run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    summary = run_dir(tmp_path, _cfg("naive")) / "summary.json"
    summary.write_text(summary.read_text()[:40])  # truncated
    with pytest.raises(ExperimentError, match=f"{summary} is damaged"):
        run_experiment(_cfg("naive"), tmp_path, benchmark=toy, resume=True)


def test_bad_seed_creates_no_folder(tmp_path, toy):
    with pytest.raises(ExperimentError, match="seed must be a non-negative integer"):
        run_experiment(_cfg("naive", seed=-1), tmp_path, benchmark=toy)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- reports group by settings

def _summary(strategy, seed, acc, **settings):
    cfg = RunConfig("speech", strategy, seed=seed, **settings)
    return {"stream": "speech", "strategy": strategy, "seed": seed, "settings": cfg.identity(),
            "n_experiences": 2, "accuracy_matrix": acc, **matrix_metrics(acc), "stored_real_samples": 0,
            "wall_time_s": 1.0 + seed}


def test_runs_with_other_settings_are_never_merged():
    runs = [_summary("naive", 0, [[1, 0], [0, 1]], epochs=1), _summary("naive", 1, [[1, 0], [0.2, 1]], epochs=5),
            _summary("naive", 2, [[1, 0], [0.4, 1]], epochs=5), _summary("lwf", 0, [[1, 0], [0.3, 1]], epochs=5)]
    rows = {r["label"]: r for r in aggregate(runs)}
    assert set(rows) == {"naive (epochs 1)", "naive (epochs 5)", "lwf"}
    assert rows["naive (epochs 1)"]["seeds"] == [0] and rows["naive (epochs 5)"]["seeds"] == [1, 2]
    assert rows["naive (epochs 5)"]["final_average_accuracy"] == pytest.approx(0.65)
    assert rows["lwf"]["wall_time_ratio_to_naive"] == pytest.approx(1.0 / 2.5)  # naive with the same settings
    table = markdown_table(aggregate(runs))
    assert "| speech | naive (epochs 1) | 1 |" in table and "| speech | naive (epochs 5) | 2 |" in table


def test_old_summaries_without_settings_still_group():
    old = [{k: v for k, v in _summary("naive", s, [[1, 0], [0, 1]]).items() if k != "settings"} for s in (0, 1)]
    rows = aggregate(old)
    assert len(rows) == 1 and rows[0]["seeds"] == [0, 1]


# --------------------------------------------------------------------------- names and options

def test_every_stream_takes_both_spellings():
    from selfrefresh.streams import STREAM_NAMES
    for name in STREAM_NAMES:
        assert canonical_stream(name.replace("-", "_")) == name
        assert canonical_stream(name) == name
        assert RunConfig(name.replace("-", "_"), "naive").stream == name
    assert canonical_stream("toy_data") == "toy_data"  # a name of your own stays as it is


def test_options_reach_only_the_strategies_that_take_them():
    with pytest.raises(ExperimentError, match="--option mem_size: not taken by naive; it is an option of replay"):
        options_for(["naive"], {"mem_size": 5})
    with pytest.raises(ExperimentError, match="--option colour: not taken by naive, lwf; no strategy takes it"):
        options_for(["naive", "lwf"], {"colour": 1})
    split = options_for(["naive", "replay"], {"mem_size": 5})
    assert split == {"naive": {}, "replay": {"mem_size": 5}}


def test_every_default_option_is_an_option_of_its_strategy():
    from selfrefresh.runs.options import option_names
    from selfrefresh.strategies.registry import DEFAULT_OPTIONS, STRATEGY_NAMES
    for name in STRATEGY_NAMES:
        assert set(DEFAULT_OPTIONS.get(name, {})) <= option_names(name), name
    assert option_names("naive") == frozenset() and "mem_size" in option_names("replay")


# --------------------------------------------------------------------------- output and loggers

@pytest.mark.parametrize("strategy", ["cumulative", "joint", "naive"])
def test_progress_bar_never_overruns_its_total(tmp_path, toy, strategy, monkeypatch):
    from selfrefresh.runs import evaluation
    seen = []

    class Spy(evaluation.ProgressBar):
        def after_training_iteration(self, strategy, **kwargs):
            super().after_training_iteration(strategy, **kwargs)
            seen.append((self.bar.n, self.bar.total))
    monkeypatch.setattr(evaluation, "ProgressBar", Spy)
    run_experiment(_cfg(strategy, progress=True), tmp_path, benchmark=toy)
    assert seen and all(n <= total for n, total in seen), seen[-1]
    assert seen[-1][0] == seen[-1][1]  # ends exactly full
    assert seen[0][1] == seen[-1][1]   # and its first total was right


def test_tensorboard_logger_writes_under_out_tb(tmp_path, toy):
    run_experiment(_cfg("naive", log=("tensorboard",)), tmp_path, benchmark=toy)
    events = list((tmp_path / "tb" / "toy" / "naive" / "seed0").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_missing_wandb_is_a_one_line_error(tmp_path, toy, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.raises(ExperimentError, match="--log wandb needs the wandb package: pip install wandb"):
        run_experiment(_cfg("naive", log=("wandb",)), tmp_path, benchmark=toy)


def test_summary_evaluator_prints_nothing(toy, capsys):
    from selfrefresh.models import AutoHeteroRNN
    from selfrefresh.runs import ProgressBar, experience_accuracies, summary_evaluator
    from selfrefresh.strategies.registry import make_strategy
    model = AutoHeteroRNN(3, 8, 4)
    strategy = make_strategy("naive", model, torch.optim.Adam(model.parameters()), train_mb_size=16,
                             train_epochs=1, eval_mb_size=64, plugins=[ProgressBar(enabled=False)],
                             evaluator=summary_evaluator())
    strategy.train(toy.train_stream[0])
    acc = experience_accuracies(strategy.eval(toy.test_stream))
    assert len(acc) == 2 and all(0 <= a <= 1 for a in acc)
    assert capsys.readouterr().out == ""


def test_threads_default_to_one_and_can_be_set():
    before = torch.get_num_threads()
    try:
        assert set_threads() == 1 and torch.get_num_threads() == 1
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="threads must be a positive integer"):
            set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_old_import_path_still_works():
    import selfrefresh.experiment as old
    import selfrefresh.runs as new
    for name in old.__all__:
        assert getattr(old, name) is getattr(new, name), name


@pytest.mark.parametrize("content", ['{"identity": ', "[1, 2]", '{"identity": 3}'])
def test_damaged_settings_file_is_named(tmp_path, toy, content):
    run_experiment(_cfg("naive"), tmp_path, benchmark=toy)
    settings = run_dir(tmp_path, _cfg("naive")) / "settings.json"
    settings.write_text(content)
    with pytest.raises(ExperimentError, match=f"{settings} is damaged"):
        run_experiment(_cfg("naive"), tmp_path, benchmark=toy, resume=True)


def test_wandb_too_new_for_avalanche_is_a_one_line_error(tmp_path, toy, monkeypatch):
    import types
    fake = types.ModuleType("wandb")
    fake.__version__ = "9.9"
    fake.util = types.SimpleNamespace()  # no generate_id, no wandb.viz: what Avalanche 0.6 calls
    monkeypatch.setitem(sys.modules, "wandb", fake)
    with pytest.raises(ExperimentError, match="wandb 9.9 lacks wandb.viz and wandb.util.generate_id"):
        run_experiment(_cfg("naive", log=("wandb",)), tmp_path, benchmark=toy)
    assert list(tmp_path.iterdir()) == []  # refused before the run folder is made
