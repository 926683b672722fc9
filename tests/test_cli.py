"""The ``selfrefresh`` command: run, compare, analyse, and one-line errors."""
import json
import subprocess
import sys

import pytest
import torch

from selfrefresh import cli

# A tiny synthetic speech stream: 4 words, 2 training voices, 2 test voices, one speed.
TINY = ["--stream", "speech", "--stream-arg", 'words=["yes","no","up","down"]', "--stream-arg", "n_voices=4",
        "--stream-arg", "test_voices=2", "--stream-arg", "speeds=[175]", "--stream-arg", "n_experiences=2",
        "--epochs", "1", "--hidden", "8", "--quiet"]


def _error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("selfrefresh: error: ")
    return err[0]


@pytest.mark.parametrize("argv, expected", [
    (["run", "--stream", "nope", "--strategy", "naive"], "unknown stream 'nope'; choose one of: speech"),
    (["run", "--stream", "speech", "--strategy", "nope"], "unknown strategy 'nope'"),
    (["run", "--stream", "speech-commands", "--strategy", "naive"], "needs root: pass --stream-arg root="),
    (["run", "--stream", "fsdd", "--strategy", "naive", "--stream-arg", "root=/no/such/folder"],
     "data not found"),
    (["run", "--stream", "speech", "--strategy", "naive", "--stream-arg", "colour=1"], "takes no argument 'colour'"),
    (["run", "--stream", "speech", "--strategy", "naive", "--device", "tpu"], "unknown device"),
    (["compare", "/no/such/results"], "does not exist"),
    (["analyse", "/no/such/run"], "does not exist"),
])
def test_wrong_input_is_one_line_error(argv, expected, capsys):
    assert cli.main(argv) == 2
    assert expected in _error_line(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible")
def test_cuda_without_gpu_is_one_line_error(capsys):
    assert cli.main(["run", "--stream", "speech", "--strategy", "naive", "--device", "cuda"]) == 2
    assert "no CUDA GPU" in _error_line(capsys)


@pytest.mark.slow  # a fresh interpreter imports torch and Avalanche (10-20 s here)
def test_console_script_error_has_no_traceback():
    p = subprocess.run([sys.executable, "-c", "import sys; from selfrefresh.cli import main; sys.exit(main())",
                        "run", "--stream", "nope", "--strategy", "naive"], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_run_resume_compare_and_analyse(tmp_path, capsys, monkeypatch):
    out = tmp_path / "a"
    assert cli.main(["run", *TINY, "--strategy", "naive", "cumulative", "--seeds", "0", "1",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| speech | naive | 2 |" in printed and "| speech | cumulative | 2 |" in printed
    for f in ("report.md", "report.json", "forgetting_speech.png", "average_speech.png"):
        assert (out / f).is_file(), f
    summary = json.loads((out / "speech" / "cumulative" / "seed1" / "summary.json").read_text())
    assert len(summary["accuracy_matrix"]) == 2 and summary["stored_real_samples"] == 8
    model = torch.load(out / "speech" / "naive" / "seed0" / "model.pt", weights_only=True)
    assert model["stream"] == "speech" and model["stream_kwargs"]["n_voices"] == 4
    assert set(model["model_config"]) >= {"input_size", "hidden_size", "num_classes", "cell"}

    # --resume of finished runs: same numbers, nothing retrained
    assert cli.main(["run", *TINY, "--strategy", "cumulative", "--seeds", "1", "--out", str(out),
                     "--resume"]) == 0
    assert json.loads((out / "speech" / "cumulative" / "seed1" / "summary.json").read_text()) == summary

    assert cli.main(["compare", str(out), "--out", str(tmp_path / "cmp")]) == 0
    assert len(json.loads((tmp_path / "cmp" / "report.json").read_text())["runs"]) == 4
    assert (tmp_path / "cmp" / "forgetting_speech.png").stat().st_size > 1000

    seen = {}
    import selfrefresh.analysis.cli as analysis_cli
    monkeypatch.setattr(analysis_cli, "analyse_command", lambda path, out_dir: seen.update(path=path, out=out_dir))
    run = out / "speech" / "naive" / "seed0"
    assert cli.main(["analyse", str(run), "--out", str(tmp_path / "an")]) == 0
    assert seen == {"path": str(run), "out": str(tmp_path / "an")}
    assert cli.main(["analyse", str(out)]) == 2  # several runs below: asks for one
    assert "holds no model.pt" in _error_line(capsys)


def test_demo_uses_speech_selfrefresh_naive_cumulative():
    assert cli.DEMO["stream"] == "speech"
    assert set(cli.DEMO["strategies"]) == {"selfrefresh", "naive", "cumulative"}


@pytest.mark.slow
def test_demo_runs(tmp_path):
    assert cli.main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["strategy"]: r for r in json.loads((tmp_path / "report.json").read_text())["table"]}
    assert rows["cumulative"]["final_average_accuracy"] > 0.8
    assert rows["naive"]["average_forgetting"] > 0.5
