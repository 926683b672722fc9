"""Property-based fuzzing of the public entry points with malformed input (issue 14).

Every example is a malformed input: each must raise a clear exception (ValueError, TypeError,
FileNotFoundError or CorruptFileError, itself a ValueError) whose one-line message names the problem,
never a hint to unpickle, never a NaN result; files already in the folder must not change. Extreme
but legal values (huge finite inputs) must give a finite result or a clear error.

Each distinct input tried is recorded (category -> repr -> outcome); with ``SELFREFRESH_FUZZ_LOG=path``
the record is written there as JSON at the end of the module (``benchmarks/fuzz_report.py`` does
this and writes ``benchmarks/results/fuzz_api.md``). Examples are derandomised, so the counts are
stable. Runs in well under a minute on one thread.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfrefresh._files import CorruptFileError, load_json, load_npz, load_torch_file, read_audio
from selfrefresh.models import AutoHeteroRNN

CLEAR = (ValueError, TypeError, FileNotFoundError)
UNSAFE = ("weights_only", "allow_pickle", "pickle", "trust the source")
FSDD = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "fsdd" / "recordings"
LOG: dict = {}


def fuzz(n):
    # SELFREFRESH_FUZZ_SCALE < 1 runs fewer examples (benchmarks/fuzz_report.py --scale, a pipeline check)
    n = max(1, round(n * float(os.environ.get("SELFREFRESH_FUZZ_SCALE", "1"))))
    return settings(max_examples=n, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def _write_log():
    yield
    target = os.environ.get("SELFREFRESH_FUZZ_LOG")
    if target:
        Path(target).write_text(json.dumps(LOG, indent=1, sort_keys=True))


def _record(category, key, outcome):
    LOG.setdefault(category, {})[str(key)[:300]] = outcome


def _has_nan(result) -> bool:
    if isinstance(result, torch.Tensor):
        return result.is_floating_point() and not bool(torch.isfinite(result).all())
    if isinstance(result, np.ndarray):
        return result.dtype.kind == "f" and not np.isfinite(result).all()
    if isinstance(result, (tuple, list)):
        return any(_has_nan(r) for r in result)
    if hasattr(result, "__dict__") and not isinstance(result, torch.nn.Module):
        return any(_has_nan(v) for v in vars(result).values())
    return False


def expect_error(category, key, fn, fragments, types=CLEAR):
    """Run ``fn`` on a malformed input: it must raise one of ``types`` with a one-line message that
    contains one of ``fragments`` and no unsafe-load hint."""
    try:
        result = fn()
    except types as e:
        msg = str(e)
        ok = "\n" not in msg and any(f in msg for f in fragments) and not any(h in msg.lower() for h in UNSAFE)
        _record(category, key, "clear error" if ok else f"vague {type(e).__name__}")
        assert ok, f"{category} {key}: {type(e).__name__}({msg!r}) names none of {fragments}"
        return e
    except Exception as e:  # noqa: BLE001 - the point: anything else is a finding
        _record(category, key, f"unexpected {type(e).__name__}")
        raise AssertionError(f"{category} {key}: unexpected {type(e).__name__}: {e}") from e
    nan = _has_nan(result)
    _record(category, key, "NaN result" if nan else "accepted")
    raise AssertionError(f"{category} {key}: malformed input accepted{' with a NaN result' if nan else ''}")


def expect_finite_or_error(category, key, fn, fragments):
    """Extreme but legal input: a finite result, or a clear error."""
    try:
        result = fn()
    except CLEAR as e:
        ok = "\n" not in str(e) and any(f in str(e) for f in fragments)
        _record(category, key, "clear error" if ok else f"vague {type(e).__name__}")
        assert ok, str(e)
        return
    except Exception as e:  # noqa: BLE001
        _record(category, key, f"unexpected {type(e).__name__}")
        raise AssertionError(f"{category} {key}: unexpected {type(e).__name__}: {e}") from e
    nan = _has_nan(result)
    _record(category, key, "NaN result" if nan else "finite result")
    assert not nan, f"{category} {key}: NaN leaked"


def _digest(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- malformed tensors

F, H, C = 3, 4, 2
CELLS = ("srn", "rnn", "gru", "lstm")
torch.manual_seed(0)
MODELS = {c: AutoHeteroRNN(F, H, C, cell=c) for c in CELLS}
TENSOR_FRAGMENTS = ("shape", "features", "time steps", "dtype", "floating-point", "NaN or inf", "torch.Tensor")
BAD_DTYPES = (torch.int64, torch.int32, torch.int8, torch.uint8, torch.bool, torch.float64, torch.float16,
              torch.bfloat16, torch.complex64)
NON_FINITE = (math.nan, math.inf, -math.inf)


@st.composite
def malformed_sequences(draw, rank=3, feat=F):
    """(description, value): a batch of sequences wrong in exactly one visible way."""
    kind = draw(st.sampled_from(["rank", "features", "empty-time", "dtype", "non-finite", "not-a-tensor"]))
    b, t = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    good = [b, t, feat] if rank == 3 else [b, feat]
    if kind == "rank":
        r = draw(st.sampled_from([d for d in range(0, 6) if d != rank]))
        shape = draw(st.lists(st.integers(1, 4), min_size=r, max_size=r))
        return f"rank{r}{shape}", torch.randn(shape)
    if kind == "features":
        f = draw(st.integers(0, 7).filter(lambda v: v != feat))
        shape = good[:-1] + [f]
        return f"features{shape}", torch.randn(shape)
    if kind == "empty-time" and rank == 3:
        return f"empty-time[{b},0,{feat}]", torch.randn(b, 0, feat)
    if kind == "dtype":
        dt = draw(st.sampled_from(BAD_DTYPES))
        return f"dtype{dt}{good}", torch.ones(good).to(dt)
    if kind == "not-a-tensor":
        v = draw(st.sampled_from(["list", "ndarray", "str", "None", "float"]))
        value = {"list": torch.ones(good).tolist(), "ndarray": np.ones(good, np.float32), "str": "x",
                 "None": None, "float": 1.0}[v]
        return f"not-a-tensor:{v}{good}", value
    x = torch.randn(good)
    bad = draw(st.sampled_from(NON_FINITE))
    idx = tuple(draw(st.integers(0, n - 1)) for n in good)
    x[idx] = bad
    return f"non-finite{good}@{idx}={bad}", x


@fuzz(120)
@given(cell=st.sampled_from(CELLS), method=st.sampled_from(["forward", "run", "run-no-context", "reconstruct",
                                                             "features"]),
       case=malformed_sequences())
def test_fuzz_autohetero_sequences(cell, method, case):
    desc, x = case
    m = MODELS[cell]
    call = {"forward": lambda: m(x), "run": lambda: m.run(x), "run-no-context": lambda: m.run(x, with_context=False),
            "reconstruct": lambda: m.reconstruct(x), "features": lambda: m.features(x)}[method]
    expect_error("AutoHeteroRNN forward/run/reconstruct/features: malformed x", (cell, method, desc), call,
                 TENSOR_FRAGMENTS)


@fuzz(60)
@given(cell=st.sampled_from(CELLS), case=malformed_sequences(rank=2), which=st.sampled_from(["x_t", "context"]))
def test_fuzz_autohetero_step(cell, case, which):
    desc, bad = case
    m = MODELS[cell]
    if which == "x_t":
        call = lambda: m.step(bad)  # noqa: E731
    else:
        # a malformed context (B, S) for a valid item: reuse the item's malformation on the context width
        s = m.state_size
        if isinstance(bad, torch.Tensor) and bad.dim() == 2 and bad.shape[-1] == F and bad.is_floating_point() \
                and torch.isfinite(bad).all():
            bad = torch.randn(bad.shape[0], s + 1)
        call = lambda: m.step(torch.randn(2, F), bad)  # noqa: E731
    expect_error("AutoHeteroRNN.step: malformed x_t or context", (cell, which, desc), call,
                 TENSOR_FRAGMENTS + ("context", "flat state"))


@fuzz(50)
@given(cell=st.sampled_from(CELLS), state=st.one_of(
    st.lists(st.integers(1, 3), min_size=1, max_size=4).map(lambda s: ("tensor", tuple(s))),
    st.sampled_from([("pair", None), ("list", None), ("str", None), ("int-tensor", None)])))
def test_fuzz_autohetero_run_state(cell, state):
    m = MODELS[cell]
    kind, shape = state
    if kind == "tensor":
        if shape == (1, 2, H) and cell != "lstm":
            shape = (1, 2, H + 1)
        value = torch.zeros(shape)
    else:
        value = {"pair": (torch.zeros(1, 2, H), torch.zeros(2, H)), "list": [0.0], "str": "state",
                 "int-tensor": torch.zeros(1, 2, H, dtype=torch.long)}[kind]
    expect_error("AutoHeteroRNN.run: malformed state", (cell, kind, shape), lambda: m.run(torch.randn(2, 3, F), value),
                 ("state",))


@fuzz(40)
@given(value=st.one_of(st.floats(allow_nan=True), st.text(max_size=3), st.none(), st.booleans(),
                       st.integers(-5, 1), st.lists(st.integers(0, 9), max_size=2)))
def test_fuzz_grow(value):
    m = AutoHeteroRNN(F, H, 2)
    if isinstance(value, int) and not isinstance(value, bool) and value == 2:
        value = 1  # shrinking: refused too
    expect_error("AutoHeteroRNN.grow: non-int or shrinking num_classes", repr(value), lambda: m.grow(value),
                 ("num_classes", "cannot shrink"))
    assert m.num_classes == 2


@fuzz(40)
@given(cell=st.sampled_from(CELLS), scale=st.floats(1e20, 3.4e38), signs=st.lists(st.sampled_from([-1.0, 1.0]),
                                                                                   min_size=F, max_size=F))
def test_fuzz_huge_finite_input_never_gives_nan(cell, scale, signs):
    x = (torch.tensor(signs) * scale).expand(2, 3, F).contiguous()
    m = MODELS[cell]
    expect_finite_or_error("AutoHeteroRNN: huge finite values (legal; finite result or clear error)",
                           (cell, f"{scale:.3g}", tuple(signs)), lambda: (m(x), m.run(x).logits), ("too large",))


@fuzz(60)
@given(kind=st.sampled_from(["SRN", "RNN", "GRU", "LSTM", "SRNCell", "RNNCell", "GRUCell", "LSTMCell"]),
       case=st.data())
def test_fuzz_nn_layers_and_cells(kind, case):
    import selfrefresh.nn as snn
    module = getattr(snn, kind)(F, H)
    is_cell = kind.endswith("Cell")
    step = not is_cell and case.draw(st.booleans())
    desc, x = case.draw(malformed_sequences(rank=2 if (is_cell or step) else 3))
    if desc.startswith("non-finite"):
        # the layers check shapes and dtypes only (the model checks values): make it a dtype case
        x, desc = x.double(), desc.replace("non-finite", "float64")
    call = (lambda: module.step(x)) if step else (lambda: module(x))
    expect_error("selfrefresh.nn layers and cells: malformed input", (kind, step, desc), call,
                 ("shape", "input features", "time steps", "dtype", "floating-point", "torch.Tensor", "-D input"))


# --------------------------------------------------------------------------- generators

@fuzz(50)
@given(mode=st.sampled_from(["noise", "sequence", "static"]),
       n=st.one_of(st.floats(allow_nan=True), st.integers(-10, 0), st.text(max_size=2), st.none(), st.booleans()))
def test_fuzz_generator_sample_n(mode, n):
    from selfrefresh.generators import Noise, Reverberation
    m = MODELS["gru"]
    gen = Noise(m, seq_len=3) if mode == "noise" else Reverberation(m, seq_len=3, mode=mode, reverberations=1)
    expect_error("generators: sample(n) with a bad n", (mode, repr(n)), lambda: gen.sample(n), ("n must be", "n >= 1"))


@fuzz(50)
@given(case=st.one_of(
    malformed_sequences().filter(lambda c: not c[0].startswith(("dtype", "not-a-tensor"))),
    st.sampled_from([("empty-batch", torch.zeros(0, 3, F)), ("strings", [["a", "b"]]), ("dict", {"a": 1}),
                     ("None", None), ("unknown-name", "buffer"), ("ragged", [[[1.0]], [[1.0, 2.0]]])])))
def test_fuzz_generator_seed_buffers(case):
    from selfrefresh.generators import Reverberation
    desc, seeds = case
    gen = lambda: Reverberation(MODELS["gru"], seeds=seeds, reverberations=1).sample(2)  # noqa: E731
    expect_error("generators: bad seed buffers", desc, gen, ("seed buffer", "seeds must be", "features per step"))


# --------------------------------------------------------------------------- losses

@fuzz(80)
@given(data=st.data(), loss=st.sampled_from(["soft_target_loss", "masked_teacher_probs", "current_classes_ce",
                                             "PaddedCrossEntropyLoss"]))
def test_fuzz_losses(data, loss):
    from selfrefresh.strategies import losses as L
    n, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 5))
    logits = torch.randn(n, c)
    labels = torch.randint(0, c, (n,))
    fault = data.draw(st.sampled_from(["temperature", "logits-nan", "logits-shape", "labels-float", "labels-negative",
                                       "labels-shape", "labels-out-of-classes", "known-empty", "targets-shape"]))
    temp = 2.0
    if fault == "temperature":
        temp = data.draw(st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf),
                                   st.text(max_size=2)))
    elif fault == "logits-nan":
        logits[data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, c - 1))] = data.draw(st.sampled_from(NON_FINITE))
    elif fault == "logits-shape":
        logits = torch.randn(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3).filter(lambda s: len(s) != 2)))
    elif fault == "labels-float":
        labels = labels.float() + 0.5
    elif fault == "labels-negative":
        labels[data.draw(st.integers(0, n - 1))] = -data.draw(st.integers(1, 5))
    elif fault == "labels-shape":
        labels = labels.reshape(1, -1).repeat(2, 1)
    key = (loss, fault, n, c, repr(temp), tuple(logits.shape), str(labels.tolist())[:40])
    frags = ("temperature", "NaN or inf", "shape", "integer class", "negative", "known", "not among", "out of range",
             "classes")
    if loss == "soft_target_loss":
        target = torch.softmax(torch.randn(n, c), 1)
        if fault == "targets-shape" or fault.startswith("labels") or fault == "known-empty":
            target, fault = torch.rand(n, c + 1), "targets-shape"
            key = (loss, fault, n, c)
        call = lambda: L.soft_target_loss(logits, target, temp)  # noqa: E731
    elif loss == "masked_teacher_probs":
        known = None
        if fault.startswith(("labels", "targets")) or fault == "known-empty":
            known, fault = torch.zeros(c, dtype=torch.bool), "known-empty"
            key = (loss, fault, n, c)
        call = lambda: L.masked_teacher_probs(logits, c, known, temp)  # noqa: E731
    elif loss == "current_classes_ce":
        classes = torch.arange(c)
        if fault in ("temperature", "known-empty", "targets-shape", "labels-out-of-classes"):
            classes, fault = torch.tensor([c - 1]), "labels-out-of-classes"
            labels = torch.zeros(n, dtype=torch.long)
            key = (loss, fault, n, c)
        call = lambda: L.current_classes_ce(logits, labels, classes)  # noqa: E731
    else:
        crit = L.PaddedCrossEntropyLoss()
        if fault in ("temperature", "known-empty", "targets-shape", "labels-out-of-classes"):
            # a label beyond the head in training (with gradient): refused
            logits = logits.requires_grad_(True)
            labels = torch.full((n,), c + data.draw(st.integers(0, 3)), dtype=torch.long)
            fault = "label-beyond-head-in-training"
            key = (loss, fault, n, c, int(labels[0]))
        call = lambda: crit(logits, labels)  # noqa: E731
    expect_error("losses: bad temperature, logits or labels", key, call, frags)


# --------------------------------------------------------------------------- stream builders

@fuzz(50)
@given(data=st.data())
def test_fuzz_class_incremental_stream(data):
    from selfrefresh.streams.base import class_incremental_stream
    tx, ty = torch.randn(8, 3, 2), torch.tensor([0, 1] * 4)
    ex, ey = tx.clone(), ty.clone()
    fault = data.draw(st.sampled_from(["nan-train", "nan-test", "rank", "count", "float-labels", "negative-labels",
                                       "gap-labels", "test-label-unknown", "string-labels", "ragged", "split"]))
    n_exp = 1
    if fault in ("nan-train", "nan-test"):
        x = tx if fault == "nan-train" else ex
        idx = tuple(data.draw(st.integers(0, s - 1)) for s in x.shape)
        x[idx] = data.draw(st.sampled_from(NON_FINITE))
        key = (fault, idx, float(x[idx]))
    elif fault == "rank":
        tx = torch.randn(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=4).filter(lambda s: len(s) != 3)))
        key = (fault, tuple(tx.shape))
    elif fault == "count":
        k = data.draw(st.integers(0, 7))
        ty = ty[:k]
        key = (fault, k)
    elif fault == "float-labels":
        off = data.draw(st.floats(0.01, 0.99))
        ty = ty.float() + off
        key = (fault, round(off, 3))
    elif fault == "negative-labels":
        v = data.draw(st.integers(-9, -1))
        ty = ty.clone()
        ty[data.draw(st.integers(0, 7))] = v
        key = (fault, v, tuple(ty.tolist()))
    elif fault == "gap-labels":
        v = data.draw(st.integers(3, 9))
        ty = torch.tensor([0, v] * 4)
        key = (fault, v)
    elif fault == "test-label-unknown":
        v = data.draw(st.integers(2, 9))
        ey = ey.clone()
        ey[0] = v
        key = (fault, v)
    elif fault == "string-labels":
        ty = np.array(["a", "b"] * 4)
        key = (fault,)
    elif fault == "ragged":
        tx = [np.zeros((data.draw(st.integers(1, 4)), 2)) for _ in range(8)]
        if len({len(s) for s in tx}) == 1:
            tx[0] = np.zeros((len(tx[1]) + 1, 2))
        key = (fault, tuple(len(s) for s in tx))
    else:
        n_exp = data.draw(st.integers(-2, 5).filter(lambda v: v not in (1, 2)))
        key = (fault, n_exp)
    expect_error("class_incremental_stream: bad arrays or labels", key,
                 lambda: class_incremental_stream(tx, ty, ex, ey, n_experiences=n_exp),
                 ("NaN or inf", "shape", "labels", "sequences", "split evenly"))


def _uea_arrays(rng):
    x = rng.randn(6, 2, 5).astype(np.float32)
    return {"X_train": x, "y_train": np.array(["a", "b", "c"] * 2), "len_train": np.full(6, 5),
            "X_test": x.copy(), "y_test": np.array(["a", "b", "c"] * 2), "len_test": np.full(6, 5)}


@fuzz(60)
@given(data=st.data())
def test_fuzz_uea_npz(data):
    from selfrefresh.streams.uea import uea_stream
    fault = data.draw(st.sampled_from(["random-bytes", "truncated", "object-array", "missing-key", "npy",
                                       "bad-lengths", "nan-inside", "rank", "unknown-test-label", "empty"]))
    rng = np.random.RandomState(0)
    arrays = _uea_arrays(rng)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "keep.txt").write_text("an earlier result\n")
        path = root / "Set.npz"
        raw = None
        if fault == "random-bytes":
            raw = data.draw(st.binary(min_size=1, max_size=300))
            key = (fault, raw[:40].hex())
        elif fault == "empty":
            raw, key = b"", (fault,)
        elif fault == "truncated":
            np.savez(path, **arrays)
            cut = data.draw(st.integers(0, path.stat().st_size - 1))
            raw, key = path.read_bytes()[:cut], (fault, cut)
        elif fault == "object-array":
            arrays["X_train"] = np.array([{"k": 1}] * 6, dtype=object)
            key = (fault,)
        elif fault == "missing-key":
            drop = data.draw(st.sampled_from(sorted(arrays)))
            arrays.pop(drop)
            key = (fault, drop)
        elif fault == "npy":
            buf = root / "a.npy"
            np.save(buf, np.zeros(data.draw(st.integers(1, 5))))
            raw, key = buf.read_bytes(), (fault, len(buf.read_bytes()))
            buf.unlink()
        elif fault == "bad-lengths":
            v = data.draw(st.sampled_from([0, -1, 6, 50]))
            arrays["len_train"] = np.full(6, v)
            key = (fault, v)
        elif fault == "nan-inside":
            i, t = data.draw(st.integers(0, 5)), data.draw(st.integers(0, 4))
            arrays["X_test"][i, 0, t] = np.nan
            key = (fault, i, t)
        elif fault == "rank":
            arrays["X_train"] = arrays["X_train"].reshape(6, 10)
            key = (fault,)
        else:
            arrays["y_test"] = np.array(["a", "b", "z"] * 2)
            key = (fault,)
        if raw is None:
            np.savez(path, **arrays)
        else:
            path.write_bytes(raw)
        before = _digest(root)
        expect_error("UEA stream: corrupt or malformed .npz", key,
                     lambda: uea_stream("Set", root, n_experiences=1),
                     ("not a valid .npz archive", "lacks arrays", "len_train", "NaN or inf", "do not agree",
                      "never occur in training"))
        assert _digest(root) == before


@pytest.mark.skipif(not FSDD.is_dir(), reason="FSDD data not present")
@fuzz(40)
@given(data=st.data())
def test_fuzz_fsdd_corrupt_wav(data):
    from selfrefresh.streams.audio import fsdd
    wav = (FSDD / "1_george_7.wav").read_bytes()
    fault = data.draw(st.sampled_from(["random-bytes", "zeros", "text", "header-cut", "data-cut", "riff-garbage",
                                       "empty"]))
    if fault == "random-bytes":
        raw = data.draw(st.binary(min_size=1, max_size=400).filter(lambda b: b[:4] not in (b"RIFF", b"FORM")))
    elif fault == "zeros":
        raw = bytes(data.draw(st.integers(1, 500)))
    elif fault == "text":
        raw = data.draw(st.text(min_size=1, max_size=40)).encode()
    elif fault == "header-cut":
        raw = wav[:data.draw(st.integers(1, 43))]
    elif fault == "data-cut":
        raw = wav[:data.draw(st.integers(45, len(wav) - 1))]
    elif fault == "riff-garbage":
        raw = b"RIFF" + data.draw(st.binary(min_size=4, max_size=4)) + b"WAVE" + data.draw(st.binary(max_size=200))
    else:
        raw = b""
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        for digit in (0, 1):
            for take in (0, 5):
                shutil.copy(FSDD / f"{digit}_george_{take}.wav", folder)
        (folder / "notes.txt").write_text("kept\n")
        bad = folder / "1_george_6.wav"
        bad.write_bytes(raw)
        before = _digest(folder)
        err = expect_error("FSDD folder: corrupt WAV", (fault, hashlib.sha1(raw).hexdigest()[:12], len(raw)),
                           lambda: fsdd(folder, n_experiences=1), ("is not a readable audio file",))
        assert str(bad) in str(err)
        assert _digest(folder) == before


# --------------------------------------------------------------------------- checkpoints and summaries

@fuzz(60)
@given(data=st.data())
def test_fuzz_checkpoint_and_summary_loaders(data):
    from selfrefresh.analysis import analyse_command, load_checkpoint
    kind = data.draw(st.sampled_from(["checkpoint", "summary"]))
    fault = data.draw(st.sampled_from(["random-bytes", "truncated", "empty"]))
    with tempfile.TemporaryDirectory() as d:
        run = Path(d)
        (run / "analysis").mkdir()
        (run / "analysis" / "report.md").write_text("an earlier report\n")
        (run / "metrics.csv").write_text("exp,acc\n0,0.5\n")
        if kind == "checkpoint":
            path = run / "model.pt"
            m = MODELS["gru"]
            torch.save({"model_config": dict(input_size=F, hidden_size=H, num_classes=C, cell="gru"),
                        "model_state": m.state_dict()}, path)
        else:
            path = run / "summary.json"
            path.write_text(json.dumps({"strategy": "naive", "accuracy_matrix": [[0.5, 0.1], [0.4, 0.6]]}, indent=1))
        valid = path.read_bytes()
        if fault == "random-bytes":
            raw = data.draw(st.binary(min_size=1, max_size=300))
            if kind == "summary":
                try:  # a few random bytes are valid JSON ("1", "[]"): not malformed
                    json.loads(raw.decode())
                    raw = b"{" + raw
                except (ValueError, UnicodeDecodeError):
                    pass
        elif fault == "truncated":
            raw = valid[:data.draw(st.integers(1, len(valid) - 1))]
            if kind == "summary":
                try:
                    json.loads(raw.decode())
                    raw = raw + b","
                except (ValueError, UnicodeDecodeError):
                    pass
        else:
            raw = b""
        path.write_bytes(raw)
        before = _digest(run)
        key = (kind, fault, hashlib.sha1(raw).hexdigest()[:12], len(raw))
        if kind == "checkpoint":
            which = data.draw(st.sampled_from(["load_checkpoint", "analyse_command", "load_torch_file"]))
            call = {"load_checkpoint": lambda: load_checkpoint(path),
                    "analyse_command": lambda: analyse_command(run, progress=False),
                    "load_torch_file": lambda: load_torch_file(path)}[which]
            err = expect_error("checkpoints: random bytes, truncated, empty", key + (which,), call,
                               ("not a valid selfrefresh checkpoint",))
        else:
            err = expect_error("run summaries: random bytes, truncated, empty", key,
                               lambda: load_json(path, "run summary"), ("not a valid run summary",))
        assert isinstance(err, CorruptFileError) and str(path) in str(err)
        assert _digest(run) == before


@fuzz(20)
@given(raw=st.binary(max_size=200), kind=st.sampled_from(["npz", "audio"]))
def test_fuzz_low_level_readers(raw, kind):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / ("x.npz" if kind == "npz" else "x.wav")
        if kind == "audio" and raw[:4] in (b"RIFF", b"FORM"):
            raw = b"\0" + raw
        if kind == "npz" and raw[:2] in (b"PK", b"\x93N"):
            raw = b"\0" + raw
        path.write_bytes(raw)
        call = (lambda: load_npz(path)) if kind == "npz" else (lambda: read_audio(path))
        expect_error(f"low-level readers ({kind}): random bytes", (kind, raw.hex()[:60], len(raw)), call,
                     ("not a valid .npz archive", "is not a readable audio file"))
