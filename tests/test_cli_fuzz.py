"""Malformed command lines (hypothesis): every one ends in exit status 2 with one line on stderr,
no traceback, and no earlier result file changed.

``benchmarks/fuzz_cli.py`` runs the same property with more examples and writes the count of
distinct command lines and their classes to ``benchmarks/results/fuzz_cli.md``.
"""
import contextlib
import io
import json
import tempfile
from collections import Counter
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from selfrefresh import cli  # noqa: E402

SEEN: dict = {}  # distinct command line -> class of input (filled by the property)

WORK = Path(tempfile.mkdtemp(prefix="selfrefresh-fuzz-"))
OUT = WORK / "out"                       # holds an earlier result that must never change
EARLIER = OUT / "symbolic" / "naive" / "seed0" / "summary.json"
A_FILE = WORK / "a-file"                 # an existing file, as --out
TINY = ["--stream", "symbolic", "--stream-arg", "n_sequences=4", "--stream-arg", "n_experiences=2",
        "--stream-arg", "n_train_per_class=4", "--stream-arg", "n_test_per_class=2", "--epochs", "1",
        "--hidden", "4", "--quiet"]
RUN = ["run", *TINY, "--strategy", "naive"]


def _setup() -> None:
    EARLIER.parent.mkdir(parents=True, exist_ok=True)
    if not EARLIER.exists():
        EARLIER.write_text(json.dumps({"stream": "symbolic", "strategy": "naive", "seed": 0}))
    A_FILE.write_text("a file")


# ------------------------------------------------------------------ malformed pieces, by class

text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
not_int = st.one_of(st.integers(-10**6, 0).map(str), st.floats(allow_nan=True).map(str),
                    text.filter(lambda t: not t.strip().lstrip("+").isdigit()))
not_seed = st.one_of(st.integers(-10**6, -1).map(str), st.floats().filter(lambda f: f != int(f) if f == f and
                                                                                   abs(f) < 1e300 else True).map(str),
                     text.filter(lambda t: not t.strip().lstrip("+").isdigit()))
not_lr = st.one_of(st.floats(max_value=0), st.just(float("nan")), st.just(float("inf"))).map(str) | \
    text.filter(lambda t: not _is_positive_float(t))


def _is_positive_float(t: str) -> bool:
    try:
        v = float(t)
    except ValueError:
        return False
    return v > 0 and v != float("inf")


def _unknown(valid):
    return text.filter(lambda t: t.replace("_", "-") not in valid and t not in valid and not t.startswith("-"))


def _cases():
    from selfrefresh.streams import STREAM_NAMES
    from selfrefresh.strategies.registry import STRATEGY_NAMES
    int_options = st.sampled_from(["--epochs", "--hidden", "--batch-size", "--threads"])
    return st.one_of(
        st.tuples(st.just("bad integer"), int_options, not_int).map(lambda c: (c[0], RUN + [c[1], c[2]])),
        st.tuples(st.just("bad seed"), st.lists(not_seed, min_size=1, max_size=3)).map(
            lambda c: (c[0], RUN + ["--seeds", *c[1]])),
        st.tuples(st.just("bad learning rate"), not_lr).map(lambda c: (c[0], RUN + ["--lr", c[1]])),
        st.tuples(st.just("unknown stream"), _unknown(STREAM_NAMES)).map(
            lambda c: (c[0], ["run", "--stream", c[1], "--strategy", "naive", "--quiet"])),
        st.tuples(st.just("unknown strategy"), _unknown(STRATEGY_NAMES)).map(
            lambda c: (c[0], ["run", *TINY, "--strategy", "naive", c[1]])),
        st.tuples(st.just("unknown choice"), st.sampled_from(["--cell", "--size", "--log"]),
                  _unknown(("gru", "lstm", "rnn", "srn", "full", "small", "tensorboard", "wandb"))).map(
            lambda c: (c[0], RUN + [c[1], c[2]])),
        st.tuples(st.just("unknown device"), _unknown(("auto", "cpu", "cuda"))
                  .filter(lambda t: not t.startswith("cuda:") and t not in ("cuda", "cpu"))).map(
            lambda c: (c[0], RUN + ["--device", c[1]])),
        st.tuples(st.just("malformed KEY=VALUE"), st.sampled_from(["--stream-arg", "--option"]),
                  text.filter(lambda t: "=" not in t or t.startswith("="))).map(
            lambda c: (c[0], RUN + [c[1], c[2]])),
        st.tuples(st.just("unknown stream argument or option"), st.sampled_from(["--stream-arg", "--option"]),
                  st.from_regex(r"[a-z_]{1,10}", fullmatch=True).filter(lambda k: k not in _TAKEN), st.integers()
                  ).map(lambda c: (c[0], RUN + [c[1], f"{c[2]}={c[3]}"])),
        st.tuples(st.just("ill-typed stream argument"), st.sampled_from(
            ["n_sequences", "length", "n_items", "fragment_length", "n_experiences", "noise", "coding"]),
            st.sampled_from(["-1", "0", "null", '"x"', "[1, 2]", "{}", "1.5", "true", "-3"])).map(
            lambda c: (c[0], RUN + ["--stream-arg", f"{c[1]}={c[2]}", "--out", str(A_FILE)])),
        st.tuples(st.just("output onto a file"), st.sampled_from(["run", "demo", "compare", "analyse"]),
                  st.sampled_from(["", "/sub"])).map(lambda c: (c[0], _onto_file(c[1], c[2]))),
        st.tuples(st.just("rerun without --resume"), st.sampled_from([[], ["--epochs", "2"]])).map(
            lambda c: (c[0], RUN + ["--out", str(OUT), *c[1]])),
        st.tuples(st.just("contradictory flags"), st.just(["--resume", "--overwrite"])).map(
            lambda c: (c[0], RUN + c[1])),
        st.tuples(st.just("missing path"), st.sampled_from(["compare", "analyse"]), text).map(
            lambda c: (c[0], [c[1], str(WORK / "missing" / c[2].replace("/", "_").replace("\x00", ""))])),
        st.tuples(st.just("unknown flag or command"), st.sampled_from([[], ["run"], ["demo"], ["compare"]]),
                  st.from_regex(r"--?[a-z]{1,8}", fullmatch=True).filter(_is_unknown_flag)).map(
            lambda c: (c[0], c[1] + [c[2]])),
    )


_TAKEN = {"n_sequences", "length", "n_items", "fragment_length", "n_train_per_class", "n_test_per_class", "noise",
          "coding", "code_bits", "repeats", "n_experiences", "class_order", "seed"}


def _known_flags() -> set:
    """Every option string of the command and its subcommands (argparse also takes their prefixes)."""
    import argparse
    parsers, flags = [cli.build_parser()], set()
    while parsers:
        p = parsers.pop()
        for action in p._actions:
            flags.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
    return flags


_FLAGS = _known_flags()


def _is_unknown_flag(flag: str) -> bool:
    return not flag.startswith("-h") and not any(known.startswith(flag) for known in _FLAGS)


def _onto_file(command: str, suffix: str) -> list:
    out = str(A_FILE) + suffix
    if command == "run":
        return RUN + ["--out", out]
    if command == "demo":
        return ["demo", "--quiet", "--out", out]
    if command == "compare":
        return ["compare", str(OUT), "--out", out]
    return ["analyse", str(A_FILE), "--out", out]


def check(case) -> None:
    """The property: exit status 2 or 1, one line on stderr, no traceback, earlier results intact."""
    kind, argv = case
    _setup()
    before = EARLIER.read_bytes()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = cli.main(argv)
        except SystemExit as exit_:
            status = exit_.code
    lines = err.getvalue().strip().splitlines()
    assert status in (1, 2), (argv, status, lines)
    assert len(lines) == 1 and lines[0].startswith("selfrefresh: error: "), (argv, lines)
    assert "Traceback" not in err.getvalue()
    assert EARLIER.read_bytes() == before
    assert A_FILE.read_text() == "a file"
    SEEN.setdefault(json.dumps(argv), kind)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(_cases())
def test_malformed_command_lines_get_one_line(case):
    check(case)


def counts() -> Counter:
    """How many distinct command lines of each class the property has tried."""
    return Counter(SEEN.values())
