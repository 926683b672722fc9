"""Mutation testing (mutmut 3) of chosen source files, each against the fast tests that cover it.

For every file it copies ``selfrefresh/``, ``tests/`` and ``pyproject.toml`` into a scratch
directory, adds a ``[tool.mutmut]`` section that mutates that file only and selects its tests (the
``TESTS`` mapping below: fast tests only, never the training benchmarks), lists the file's mutants,
optionally samples a seeded subset (``--max-mutants``), runs ``mutmut run --max-children 1`` on
them, and reads mutmut's ``.meta`` results back. It writes ``benchmarks/results/mutation.md``:
per file the mutants generated, run, killed, survived and timed out, the score, and every survivor
(file:line and the mutation), with an explanation where one is recorded in ``EXPLAINED``.

Score = (killed + timed out) / (killed + timed out + survived + no tests): a timeout counts as
detected, a mutant no selected test reaches counts as missed. With a sample, the scores of the
packages and of the whole are stratified estimates (each file weighted by its generated mutants)
with a 95 % Wilson interval (:func:`stratified`). The rows also go to ``mutation.json`` beside
``--out``; ``--update`` re-runs some files and keeps the other files' rows of that file.

    python benchmarks/mutation.py --max-mutants 25       # the same seeded number of mutants per file
    python benchmarks/mutation.py --files selfrefresh/strategies/losses.py --max-mutants 25 --update
    make mutants            # every file of TESTS, every mutant (about 7400: days on 2 cores)

Needs the ``mutation`` extra (``pip install -e '.[mutation]'``). Not part of ``make test`` or CI.
"""
from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

# The fast tests of each file (pytest arguments): the test files that import it, directly or through
# the strategies that use it. Training benchmarks (Naive vs SelfRefresh on the toy stream, the
# variants smoke test, the plugin in Naive, the selfrefresh-papers checkpoint run, the GAN's mode
# coverage) are left out: a mutant runs every selected test that reaches its function, and these take
# seconds to tens of seconds each. The packages' ``__init__.py`` files that only re-export names are
# not mutated (``selfrefresh/strategies/__init__.py`` has a lazy ``__getattr__``: it is).
_NO_TRAINING = ("not forgets_less_than_naive and not test_variants_run and not plugin_in_naive_strategy "
                "and not quick_start_pattern")
_STRATEGY_TESTS = ["tests/test_mechanisms.py", "tests/test_strategy.py", "tests/test_selfrefresh_errors.py",
                   "tests/test_losses_pool.py", "tests/test_calibration.py", "tests/test_feature_memory.py",
                   "tests/test_teacher_cache.py", "-k", _NO_TRAINING]
# every registered strategy built, trained one tiny epoch, checkpointed and resumed (but selfrefresh-papers, 50 s)
_REGISTRY_TESTS = ["tests/test_registries.py", "tests/test_api_errors.py",
                   "-k", "not papers and not no_module_imports"]
_SELFREFRESH_TESTS = _STRATEGY_TESTS[:-2] + ["tests/test_api_errors.py", "tests/test_registries.py",
                                             "-k", _NO_TRAINING + " and not papers and not no_module_imports"]
_GAN_TESTS = ["tests/test_gan.py", "-k", "not covers_more_modes"]
_GENERATOR_TESTS = ["tests/test_generators.py", "tests/test_mechanisms.py", "tests/test_registries.py",
                    "tests/test_api_errors.py", "-k", "not papers and not no_module_imports"]
TESTS: Dict[str, List[str]] = {
    "selfrefresh/strategies/__init__.py": _REGISTRY_TESTS,
    "selfrefresh/strategies/baselines.py": _REGISTRY_TESTS,
    "selfrefresh/strategies/registry.py": _REGISTRY_TESTS,
    "selfrefresh/strategies/spec.py": _REGISTRY_TESTS,
    "selfrefresh/strategies/state_codec.py": _REGISTRY_TESTS,
    "selfrefresh/strategies/selfrefresh_specs.py": _REGISTRY_TESTS,
    "selfrefresh/strategies/generative_replay.py": _REGISTRY_TESTS[:-2] + ["tests/test_gan.py", "-k",
                                                                          "not papers and not no_module_imports "
                                                                          "and not covers_more_modes"],
    "selfrefresh/strategies/gan_replay.py": _GAN_TESTS,
    "selfrefresh/strategies/losses.py": _STRATEGY_TESTS[:-2] + ["tests/test_api_errors.py", "-k", _NO_TRAINING],
    "selfrefresh/strategies/self_refresh/pool.py": _STRATEGY_TESTS,
    "selfrefresh/strategies/self_refresh/teacher_cache.py": _STRATEGY_TESTS,
    "selfrefresh/strategies/self_refresh/config.py": _SELFREFRESH_TESTS,
    "selfrefresh/strategies/self_refresh/calibration.py": _STRATEGY_TESTS,
    "selfrefresh/strategies/self_refresh/pseudo_loss.py": _STRATEGY_TESTS,
    "selfrefresh/strategies/self_refresh/checks.py": _SELFREFRESH_TESTS,
    "selfrefresh/strategies/self_refresh/method.py": _SELFREFRESH_TESTS,
    "selfrefresh/strategies/self_refresh/plugin.py": _SELFREFRESH_TESTS,
    "selfrefresh/strategies/self_refresh/strategy.py": _SELFREFRESH_TESTS,
    "selfrefresh/generators/reverberation.py": _GENERATOR_TESTS,
    "selfrefresh/generators/base.py": _GENERATOR_TESTS[:-2] + ["tests/test_losses_pool.py", "tests/test_gan.py", "-k",
                                                               "not papers and not no_module_imports "
                                                               "and not covers_more_modes"],
    "selfrefresh/generators/registry.py": _GENERATOR_TESTS,
    "selfrefresh/generators/gan.py": _GAN_TESTS,
    "selfrefresh/generators/gan_nets.py": _GAN_TESTS,
    "selfrefresh/generators/ar_rnn.py": _GAN_TESTS,
    "selfrefresh/generators/vae.py": _GAN_TESTS,
    "selfrefresh/generators/learned.py": _GAN_TESTS,
    "selfrefresh/models/auto_hetero.py": ["tests/test_models.py", "tests/test_api_errors.py", "tests/test_generators.py"],
    "selfrefresh/models/auto_hetero_mlp.py": ["tests/test_models.py", "tests/test_replication.py", "-k",
                                              "not dual_network and not static_srn and not benchmark_script"],
    "selfrefresh/nn/recurrent.py": ["tests/test_nn.py", "tests/test_api_errors.py"],
    "selfrefresh/metrics/*.py": ["tests/test_generative_metrics.py"],
}

# Survivors looked at and judged (mutant name -> why it survives). Mutant numbers are stable while
# the function they belong to is unchanged; a stale entry is simply not shown.
_CPU_ONLY = ("equivalent on CPU: drops a device (a `device=` or a `.to(device)`) that only matters on an accelerator "
             "(this run is CPU only; the GPU paths are not mutation-tested)")
_NEG_INF = "equivalent: `float(\"-INF\")` is `float(\"-inf\")` (case-insensitive parsing)"
_POS_UNREAD = ("equivalent: `_pos` is only read by `take`, which needs a filled pool, and `fill` sets `_pos = 0` "
               "before any `take`")
_UNREACHABLE_UNKNOWN = ("equivalent: changes the text of SelfRefresh's own unknown-option error, which construction "
                        "never reaches: Avalanche's keyword check (on the signature spelled out with the config's "
                        "fields) refuses an unknown option first")
EXPLAINED: Dict[str, str] = {
    "selfrefresh.strategies.losses.x_masked_teacher_probs__mutmut_42": _NEG_INF,
    "selfrefresh.strategies.losses.x_masked_teacher_probs__mutmut_83": _NEG_INF,
    "selfrefresh.strategies.losses.x_masked_teacher_probs__mutmut_66": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.pool.x_index_batch__mutmut_4":
        "equivalent on CPU: `idx.to(None)` returns `idx` unchanged; the move to the batch's device only "
        "matters with indices and patterns on different devices",
    "selfrefresh.strategies.self_refresh.pool.xǁPseudoPoolǁtake__mutmut_12": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.pool.xǁPseudoPoolǁtake__mutmut_23": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.pool.xǁPseudoPoolǁ__init____mutmut_3": _POS_UNREAD,
    "selfrefresh.strategies.self_refresh.pool.xǁPseudoPoolǁclear__mutmut_2": _POS_UNREAD,
    "selfrefresh.generators.ar_rnn.xǁARGenerativeRNNǁ_train_epoch__mutmut_16":
        "equivalent: every parameter gets a gradient from each backward, so zeroed and freed gradients give the "
        "same Adam step (a parameter with a zero gradient and zero moments does not move)",
    "selfrefresh.strategies.baselines.x__ewc_plugin_class__mutmut_4": _CPU_ONLY,
    "selfrefresh.strategies.baselines.x__load_gem__mutmut_20":
        "equivalent on CPU: the GEM memory is decoded to `None` instead of `\"cpu\"`, which leaves the "
        "checkpoint's CPU tensors on the CPU",
    "selfrefresh.strategies.gan_replay.xǁGANReplayPluginǁbefore_training_iteration__mutmut_15": _CPU_ONLY,
    "selfrefresh.strategies.gan_replay.xǁGANReplayPluginǁbefore_training_iteration__mutmut_16": _CPU_ONLY,
    "selfrefresh.strategies.gan_replay.xǁGANReplayPluginǁbefore_training_iteration__mutmut_38":
        "equivalent: the replayed labels are cast to the task labels' dtype instead of the labels'; both are "
        "integer and `torch.cat` promotes integer dtypes, so the minibatch's labels are the same",
    "selfrefresh.strategies.self_refresh.calibration.x_features_of__mutmut_5":
        "equivalent: the no-grad feature pass runs in chunks of 513 sequences instead of 512; each sequence's "
        "features do not depend on the others in its chunk",
    "selfrefresh.strategies.self_refresh.calibration.xǁClassFeatureStatsǁsample__mutmut_30":
        "equivalent: with no known class the empty features are (0, 1) instead of (0, 0); the only caller "
        "(`DualMemory._calibrate_head`) uses them only when there are labels",
    "selfrefresh.strategies.self_refresh.plugin.x_experience_sample__mutmut_19":
        "equivalent: `torch.as_tensor` of a list of Python ints is int64 without `dtype=torch.long`",
    # numbered as of 8e59d18 (which changed `_calibrate_head`): `labels.append(y.to(None))`
    "selfrefresh.strategies.self_refresh.method.xǁDualMemoryǁ_calibrate_head__mutmut_81": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.method.xǁDualMemoryǁ_transfer_pseudo__mutmut_45": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.strategy.xǁSelfRefreshǁ__init____mutmut_35": _UNREACHABLE_UNKNOWN,
    "selfrefresh.strategies.self_refresh.strategy.xǁSelfRefreshǁ__init____mutmut_39": _UNREACHABLE_UNKNOWN,
    "selfrefresh.strategies.selfrefresh_specs.x__load_state__mutmut_22": _CPU_ONLY,
    "selfrefresh.strategies.spec.x_find_plugin__mutmut_2":
        "equivalent: the first test (the plugin's own class name) is redundant, its class is the first of its "
        "`__mro__`, which the second test searches",
    "selfrefresh.nn.recurrent.xǁSRNǁforward__mutmut_21":
        "equivalent: without `dtype` the layer's `init_state` takes its parameters' dtype, which the input's must "
        "match already (checked before)",
    "selfrefresh.generators.registry.x_make_generator__mutmut_4":
        "equivalent: `generator_spec` lower-cases the name, so \"REVERBERATION\" is \"reverberation\"",
    "selfrefresh.strategies.generative_replay.x_avalanche_generative_replay__mutmut_28":
        "equivalent: with `evaluator=None` Avalanche builds `EvaluationPlugin()`, which has no metrics and no "
        "loggers, like the `EvaluationPlugin(loggers=[])` passed",
    "selfrefresh.strategies.state_codec.x_decode_state__mutmut_13":
        "equivalent: Avalanche's `ParamData` takes its shape from `init_tensor` when `shape` is not given",
    "selfrefresh.strategies.state_codec.x_decode_state__mutmut_15": _CPU_ONLY,
    "selfrefresh.strategies.state_codec.x_decode_state__mutmut_18": _CPU_ONLY,
    "selfrefresh.strategies.state_codec.x_decode_state__mutmut_40": _CPU_ONLY,
    "selfrefresh.strategies.generative_replay.x_avalanche_generative_replay__mutmut_20": _CPU_ONLY,
    "selfrefresh.strategies.generative_replay.x_avalanche_generative_replay__mutmut_35": _CPU_ONLY,
    "selfrefresh.strategies.generative_replay.x_avalanche_generative_replay__mutmut_53":
        "equivalent on CPU: `device=None` is Avalanche's default, the CPU",
    # the held-out seed-4 sample (mutation_holdout_seed4.md)
    "selfrefresh.generators.gan_nets.x_gradient_penalty__mutmut_33":
        "equivalent on CPU: cuDNN is only switched off for CUDA inputs, and `x_hat.is_cuda` is False on the CPU "
        "(the GPU paths are not mutation-tested)",
    "selfrefresh.generators.vae.xǁSequenceVAEǁ_train_epoch__mutmut_23":
        "equivalent: every parameter (embedding, encoder, statistics, decoder) gets a gradient from each backward, "
        "so gradients zeroed in place (`set_to_none=None` is falsy) and freed ones give the same Adam step",
    "selfrefresh.metrics.generative.x_coverage_density__mutmut_34":
        "equivalent: `kthvalue`'s default dimension is the last, which for the 2-D distance matrix is `dim=1`",
    "selfrefresh.strategies.baselines.x__ewc_plugin_class__mutmut_8":
        "equivalent on CPU: the assignment is only reached when the strategy's device is CUDA (the GPU paths are "
        "not mutation-tested)",
    "selfrefresh.strategies.baselines.x__load_lwf__mutmut_19":
        "equivalent on CPU: `prev` is a copy of the strategy's model, already on the CPU, and `.to(None)` leaves "
        "it there",
    "selfrefresh.strategies.losses.x_current_classes_ce__mutmut_69":
        "equivalent: `torch.full` with an integer fill value is already int64; `dtype=torch.long` only restates it",
    "selfrefresh.strategies.self_refresh.calibration.x_calibrate_head__mutmut_5":
        "equivalent: `counts` is only indexed at `labels`, all below bincount's own length (largest label + 1), "
        "so padding it to the head's width changes no weight",
    "selfrefresh.strategies.self_refresh.calibration.x_calibrate_head__mutmut_8":
        "equivalent: the weights are divided by their sum on the next line, so 2/count gives the same weights as "
        "1/count (bit for bit: scaling by 2 is exact)",
    "selfrefresh.strategies.self_refresh.calibration.x_teacher_labels__mutmut_2": _CPU_ONLY,
    # numbered as of 8e59d18 (the seed-4 sample, at 949f7fc, called it _calibrate_head__mutmut_71)
    "selfrefresh.strategies.self_refresh.method.xǁDualMemoryǁ_calibrate_head__mutmut_75":
        "equivalent on CPU: the old classes' features are drawn on the default device (the CPU) instead of the "
        "real sequences' device, which is the CPU",
    "selfrefresh.strategies.self_refresh.method.xǁDualMemoryǁreal_distill_loss__mutmut_2": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.method.xǁDualMemoryǁend_experience__mutmut_29":
        "equivalent: without the features handed over, `_calibrate_head` computes the same ones again (NET1 in eval "
        "mode, unchanged since they were computed: moving the statistics does not touch it)",
    # the held-out seed-5 sample (mutation_holdout_seed5.md)
    "selfrefresh.generators.ar_rnn.xǁARGenerativeRNNǁ_train_epoch__mutmut_15":
        "equivalent: every parameter (class embedding, initial-state layer, GRU, head) gets a gradient from each "
        "backward, so gradients zeroed in place (`set_to_none=None` is falsy) and freed ones give the same "
        "clipping and Adam step",
    "selfrefresh.strategies.state_codec.x_decode_state__mutmut_9":
        "equivalent: `shape=None` is `ParamData`'s default, with which it takes its shape from `init_tensor`",
    "selfrefresh.strategies.self_refresh.plugin.x_experience_sample__mutmut_21":
        "equivalent: `torch.as_tensor` of a list of Python ints is int64 without `dtype=torch.long` (the list is "
        "never empty: `torch.stack` of no sequences raises first)",
    "selfrefresh.strategies.self_refresh.pool.xǁPseudoPoolǁtake__mutmut_32": _CPU_ONLY,
    "selfrefresh.strategies.self_refresh.teacher_cache.xǁTeacherCacheǁ__call____mutmut_15": _CPU_ONLY,
    # the held-out seed-6 sample (mutation_holdout_seed6.md)
    "selfrefresh.generators.learned.x_collect_dataset__mutmut_1":
        "equivalent: the DataLoader reads the dataset in order (`shuffle=False`) and its batches are concatenated, "
        "so batches of 513 give the same tensors as batches of 512",
    "selfrefresh.generators.learned.x_collect_dataset__mutmut_8":
        "equivalent: skips the shortcut for a `TensorDataset`, whose rows the DataLoader path then collates in "
        "order (`shuffle=False`) into the same tensors, cast by the same `.float()` and `.long()`",
    "selfrefresh.generators.vae.xǁSequenceVAEǁencode__mutmut_31":
        "equivalent: `h[-1]` (the GRU's last-layer state) is 2-D (batch, 2 * latent), so dimension +1 is "
        "dimension -1",
    "selfrefresh.strategies.gan_replay.xǁGANReplayPluginǁafter_training_exp__mutmut_4":
        "equivalent: `network=None` is `LearnedSequenceGenerator.update`'s default, with which it leaves "
        "`.network` as it is",
}

# mutmut 3's exit codes (mutmut/stats.py), copied so that reading results needs no mutmut import
STATUS_BY_EXIT_CODE = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
                       35: "suspicious", 36: "timeout", 37: "caught by type check", -24: "timeout",
                       24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
                       2: "interrupted", None: "not checked"}
COLUMNS = ("killed", "survived", "timeout", "no tests", "other")


def status(exit_code: Optional[int]) -> str:
    """mutmut's verdict for an exit code ('suspicious' for an unknown one, as mutmut says)."""
    return STATUS_BY_EXIT_CODE.get(exit_code, "suspicious")


def expand_files(patterns: Iterable[str], root: Path = ROOT) -> List[str]:
    """Source paths (relative, sorted, unique) matching the patterns (globs allowed)."""
    out = []
    for p in patterns:
        hits = sorted(str(q.relative_to(root)) for q in root.glob(p)) if any(c in p for c in "*?[") else [p]
        out += [h for h in hits if not h.endswith("__init__.py") or "*" not in p]
    return sorted(dict.fromkeys(out))


def tests_for(path: str) -> List[str]:
    """The pytest arguments selecting the fast tests of ``path`` (KeyError when it has none)."""
    for pattern, args in TESTS.items():
        if fnmatch.fnmatch(path, pattern):
            return list(args)
    raise KeyError(f"no tests mapped for {path}; add it to TESTS in benchmarks/mutation.py")


def sample(names: Sequence[str], n: Optional[int], seed: int = 0) -> List[str]:
    """A seeded subset of n mutant names (all of them when n is None or >= their number), sorted."""
    names = sorted(names)
    if n is None or n >= len(names):
        return names
    return sorted(random.Random(seed).sample(names, n))


def mutmut_config(path: str, tests: Sequence[str]) -> str:
    """The ``[tool.mutmut]`` section that mutates ``path`` only and runs ``tests``."""
    q = lambda xs: "[" + ", ".join(json.dumps(x) for x in xs) + "]"  # noqa: E731 - TOML arrays
    return ("\n[tool.mutmut]\n"
            f"source_paths = {q(['selfrefresh'])}\n"
            f"only_mutate = {q([path])}\n"
            f"pytest_add_cli_args_test_selection = {q(tests)}\n"
            f"pytest_add_cli_args = {q(['-p', 'no:cacheprovider', '-q'])}\n"
            "use_git_change_detection = false\n")


def list_mutants(work: Path, path: str) -> List[str]:
    """The names mutmut gives the mutants of ``path`` in a prepared ``work`` directory (generated in
    process with that directory's config, nothing run)."""
    from mutmut.configuration import reset_config
    from mutmut.mutation.file_mutation import mutate_file_contents
    from mutmut.utils.format_utils import get_mutant_name
    cwd = os.getcwd()
    os.chdir(work)
    try:
        reset_config()
        names = mutate_file_contents(path, Path(path).read_text()).mutant_names
    finally:
        os.chdir(cwd)
        reset_config()
    return [get_mutant_name(Path(path), n) for n in names]


def prepare(work: Path, path: str, tests: Sequence[str], root: Path = ROOT) -> None:
    """A scratch copy of the package, the tests and pyproject.toml with the mutmut section."""
    if work.exists():
        shutil.rmtree(work)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "selfrefresh", work / "selfrefresh", ignore=ignore)
    shutil.copytree(root / "tests", work / "tests", ignore=ignore)
    text = (root / "pyproject.toml").read_text()
    if "[tool.mutmut]" in text:
        raise SystemExit("pyproject.toml already has a [tool.mutmut] section; this script writes its own")
    (work / "pyproject.toml").write_text(text + mutmut_config(path, tests))


def run_mutmut(work: Path, names: Sequence[str], log) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "MPLBACKEND": "Agg"}
    env.pop("PYTHONPATH", None)  # mutmut puts mutants/ first; the worktree must not shadow it
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", "1", *names]
    return subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT).returncode


def read_meta(meta: dict, names: Optional[Iterable[str]] = None) -> Dict[str, str]:
    """Mutant name -> verdict from a mutmut ``.meta`` JSON (restricted to ``names`` when given)."""
    codes = meta["exit_code_by_key"]
    keep = codes if names is None else {n: codes.get(n) for n in names}
    return {k: status(v) for k, v in sorted(keep.items())}


def count(verdicts: Dict[str, str]) -> Dict[str, object]:
    """Killed, survived, timeout, no tests, other (suspicious, segfault, not checked) and the score."""
    c = {k: 0 for k in COLUMNS}
    for v in verdicts.values():
        c[v if v in c else "other"] += 1
    detected = c["killed"] + c["timeout"]
    judged = detected + c["survived"] + c["no tests"]
    c["run"] = len(verdicts)
    c["score"] = detected / judged if judged else None
    return c


_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


def diff_summary(diff: str) -> tuple:
    """(line offset within the function, 0-based; 'old -> new' text) of a mutant's unified diff."""
    offset, old, new, line = None, [], [], 0
    for d in diff.splitlines():
        m = _HUNK.match(d)
        if m:
            line = int(m.group(1)) - 1
            continue
        if d.startswith(("---", "+++")):
            continue
        if d.startswith("-"):
            offset = line if offset is None else offset
            old.append(d[1:].strip())
            line += 1
        elif d.startswith("+"):
            offset = line if offset is None else offset
            new.append(d[1:].strip())
        elif d.startswith(" "):
            line += 1
    return (offset or 0), " / ".join(old) + " -> " + (" / ".join(new) if new else "(removed)")


def function_start(source: str, mutant_name: str) -> int:
    """First line (1-based, decorators included) of the function a mutant belongs to (0 if unknown)."""
    mangled = mutant_name.partition("__mutmut_")[0].rpartition(".")[2]
    if "ǁ" in mangled:
        _, cls, func = mangled.split("ǁ")
    else:
        cls, func = None, mangled[2:]
    body = ast.parse(source).body
    if cls is not None:
        body = next((n.body for n in body if isinstance(n, ast.ClassDef) and n.name == cls), [])
    for n in body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == func:
            return min([n.lineno] + [d.lineno for d in n.decorator_list])
    return 0


def survivors_of(work: Path, path: str, verdicts: Dict[str, str]) -> List[dict]:
    """file:line, the mutation and the mutant's name of every survivor (and no-tests mutant)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    source = (work / path).read_text()
    out, cwd = [], os.getcwd()
    os.chdir(work)
    try:
        for name, v in verdicts.items():
            if v not in ("survived", "no tests"):
                continue
            offset, change = diff_summary(get_diff_for_mutant(name, path=path))
            out.append({"name": name, "where": f"{path}:{function_start(source, name) + offset}",
                        "change": change, "status": v})
    finally:
        os.chdir(cwd)
    return out


def package_of(path: str) -> str:
    """The package a source file counts toward: ``selfrefresh/<package>`` (sub-packages included)."""
    parts = Path(path).parts
    return "/".join(parts[:2]) if len(parts) > 2 else str(Path(path).parent)


def wilson(p: float, n: float, z: float = 1.96) -> tuple:
    """Wilson score interval of a proportion p measured on n (possibly effective, non-integer) trials."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def stratified(rows: List[dict], z: float = 1.96) -> Optional[dict]:
    """Score of the whole population of mutants from per-file samples (strata), with a 95 % interval.

    Each file's sample score p_h weighs w_h = N_h / N (N_h: its generated mutants): estimate
    sum w_h p_h, variance sum w_h^2 (1 - n_h / N_h) p_h (1 - p_h) / (n_h - 1) (sampling without
    replacement; a file whose mutants all ran adds none). The interval is Wilson's on the
    effective sample size n_eff = p (1 - p) / variance (capped at the mutants judged; the number
    judged when the variance is 0), as for complex samples (Korn & Graubard 1998). Files whose
    sample has nothing judged are left out (their weight too). None when nothing is judged.
    """
    strata = []
    for r in rows:
        c = r["counts"]
        n = c["killed"] + c["timeout"] + c["survived"] + c["no tests"]
        if n:
            strata.append((r["generated"], n, (c["killed"] + c["timeout"]) / n))
    if not strata:
        return None
    big_n = sum(g for g, _, _ in strata)
    n_all = sum(n for _, n, _ in strata)
    est = sum(g * p for g, _, p in strata) / big_n
    var = sum((g / big_n) ** 2 * max(0.0, 1 - n / g) * p * (1 - p) / (n - 1) for g, n, p in strata if n > 1)
    n_eff = n_all if var <= 0 else min(n_all, est * (1 - est) / var)
    lo, hi = wilson(est, n_eff, z)
    return {"score": est, "low": lo, "high": hi, "n_eff": n_eff, "judged": n_all, "generated": big_n,
            "files": len(strata)}


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.0f} %"


def _estimate_cells(est: Optional[dict]) -> str:
    if est is None:
        return "- | - | - | -"
    return (f"{est['files']} | {est['generated']} | {est['judged']} | **{100 * est['score']:.1f} %** "
            f"[{100 * est['low']:.1f}, {100 * est['high']:.1f}]")


def markdown(rows: List[dict], survivors: List[dict], head: str, seconds: float, sampled: bool) -> str:
    lines = ["# Mutation testing (mutmut)", "", head, ""]
    if sampled:
        lines += ["**A seeded sample of the mutants of the files below, not the whole set:** each file's "
                  "score is that of its sample; the package and overall scores below estimate the score of "
                  "all the mutants generated (each file weighted by its number of generated mutants), with "
                  "a 95 % confidence interval (Wilson's, on the stratified sample's effective size). They "
                  "are estimates, not counts.", ""]
    lines += ["Score = (killed + timed out) / (killed + timed out + survived + no tests). Each file runs "
              "against its fast tests only (`TESTS` in `benchmarks/mutation.py`).", "",
              "| package | files | generated | judged | estimated score [95 % CI] |", "|---|---|---|---|---|"]
    for pkg in sorted({package_of(r["path"]) for r in rows}):
        lines.append(f"| `{pkg}` | " + _estimate_cells(stratified([r for r in rows if package_of(r["path"]) == pkg]))
                     + " |")
    lines += [f"| **all** | " + _estimate_cells(stratified(rows)) + " |", "",
              "| file | tests | generated | run | killed | survived | timed out | no tests | other | score |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    tot = {k: 0 for k in ("generated",) + COLUMNS + ("run",)}
    for r in rows:
        c = r["counts"]
        for k in tot:
            tot[k] += r["generated"] if k == "generated" else c[k]
        lines.append(f"| `{r['path']}` | `{' '.join(r['tests'])}` | {r['generated']} | {c['run']} | {c['killed']} "
                     f"| {c['survived']} | {c['timeout']} | {c['no tests']} | {c['other']} | {_pct(c['score'])} |")
    det = tot["killed"] + tot["timeout"]
    judged = det + tot["survived"] + tot["no tests"]
    lines.append(f"| **all** (sampled mutants, unweighted) | | {tot['generated']} | {tot['run']} | {tot['killed']} | "
                 f"{tot['survived']} | {tot['timeout']} | {tot['no tests']} | {tot['other']} | "
                 f"**{'-' if not judged else f'{100 * det / judged:.0f} %'}** ({det}/{judged}) |")
    runs = sorted({r["run"] for r in rows if r.get("run")})
    lines += ["", f"Wall time {seconds / 60:.1f} min."]
    if len(runs) > 1:
        lines += ["", "Rows merged from several runs (`--update`; each row's own run in `mutation.json`): "
                  + "; ".join(f"`{x}`" for x in runs) + "."]
    lines += ["", "## Survivors", ""]
    if not survivors:
        lines.append("None.")
    for s in survivors:
        why = EXPLAINED.get(s["name"])
        lines.append(f"- `{s['where']}` {s['status']}: `{s['change']}` ({s['name']})"
                     + (f"  \n  {why}" if why else "  \n  not yet explained or killed"))
    return "\n".join(lines) + "\n"


def merge(old: dict, rows: List[dict], survivors: List[dict]) -> tuple:
    """Rows and survivors of an earlier run (``old``: its ``mutation.json``) with the files run now replacing theirs."""
    done = {r["path"] for r in rows}
    keep = [r for r in old.get("rows", []) if r["path"] not in done]
    kept_survivors = [s for s in old.get("survivors", []) if s["where"].rpartition(":")[0] not in done]
    order = lambda r: r["path"]  # noqa: E731
    return (sorted(keep + rows, key=order),
            sorted(kept_survivors + survivors, key=lambda s: (s["where"].rpartition(":")[0], s["name"])))


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", nargs="+", default=list(TESTS), help="source files or globs (default: all mapped)")
    ap.add_argument("--max-mutants", type=int, default=None, help="seeded sample of at most N mutants per file")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one, removed)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mutation.md"))
    ap.add_argument("--update", action="store_true",
                    help="keep the other files' rows of the last run (the .json beside --out) and replace these")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rewrite --out from the .json beside it (e.g. after adding explanations)")
    ap.add_argument("--note", default=None,
                    help="a paragraph printed under the header (kept in the .json for later runs)")
    ap.add_argument("--only-survivors", action="store_true",
                    help="with --update: re-run only the mutants of the sample that survived last time (the "
                         "others stay killed while tests are only added); needs the file's sample unchanged")
    args = ap.parse_args(argv)
    from _provenance import command, header

    files = expand_files(args.files)
    for path in files:  # every file mapped before any mutant runs (not after an hour of them)
        tests_for(path)
    store = Path(args.out).with_suffix(".json")
    if args.report_only:
        saved = json.loads(store.read_text())
        if args.note is not None:
            saved["note"] = args.note
            store.write_text(json.dumps(saved, indent=1) + "\n")
        head = (saved.get("head") or "") + ("\n" + saved["note"] + "\n" if saved.get("note") else "")
        sampled = any(r["counts"]["run"] < r["generated"] for r in saved["rows"])
        Path(args.out).write_text(markdown(saved["rows"], saved["survivors"], head, saved["seconds"], sampled))
        return 0
    if args.only_survivors and not (args.update and store.exists()):
        raise SystemExit("--only-survivors needs --update and the results of an earlier run")
    old = json.loads(store.read_text()) if args.update and store.exists() else {}
    old_rows = {r["path"]: r for r in old.get("rows", [])}
    scratch = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="selfrefresh-mutmut-"))
    rows, survivors, start = [], [], time.time()
    cmd = command("benchmarks/mutation.py", argv, prefix="OMP_NUM_THREADS=1")
    for path in files:
        tests = tests_for(path)
        work = scratch / re.sub(r"[^A-Za-z0-9]+", "_", path)
        prepare(work, path, tests)
        names = list_mutants(work, path)
        chosen = sample(names, args.max_mutants, args.seed)
        before = None
        if args.only_survivors:
            before = old_rows.get(path)
            last = {x["name"]: x["status"] for x in old.get("survivors", []) if x["where"].rpartition(":")[0] == path}
            if before is None or before["generated"] != len(names) or before["counts"]["run"] != len(chosen):
                raise SystemExit(f"{path}: its sample changed since the last run; run it again in full")
            chosen = [n for n in chosen if n in last]
        print(f"{path}: {len(chosen)} of {len(names)} mutants, tests {' '.join(tests)}", flush=True)
        if chosen:
            with open(work / "mutmut.log", "w") as log:
                rc = run_mutmut(work, chosen, log)
            meta_path = work / "mutants" / (path + ".meta")
            if not meta_path.exists():
                print((work / "mutmut.log").read_text()[-3000:])
                raise SystemExit(f"mutmut wrote no results for {path} (exit {rc}); log in {work}/mutmut.log")
            verdicts = read_meta(json.loads(meta_path.read_text()), chosen)
        else:
            verdicts = {}
        c = count(verdicts)
        if before is not None:  # the earlier verdicts, the re-run survivors replaced
            c = {k: before["counts"][k] for k in COLUMNS}
            for name, v in verdicts.items():
                c[last[name]] -= 1
                c[v if v in c else "other"] += 1
            detected, judged = c["killed"] + c["timeout"], c["killed"] + c["timeout"] + c["survived"] + c["no tests"]
            c.update(run=before["counts"]["run"], score=detected / judged if judged else None)
        print(f"  {c}", flush=True)
        rows.append({"path": path, "tests": tests, "generated": len(names), "counts": c, "run": cmd})
        survivors += survivors_of(work, path, verdicts)
    seconds = time.time() - start
    if old:
        rows, survivors = merge(old, rows, survivors)
        seconds += old.get("seconds", 0.0)
    sampled = any(r["counts"]["run"] < r["generated"] for r in rows)
    head = header(cmd, extra=f"mutmut {_mutmut_version()}, seed {args.seed}, --max-children 1")
    note = args.note if args.note is not None else old.get("note")
    text = markdown(rows, survivors, head + ("\n" + note + "\n" if note else ""), seconds, sampled)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    store.write_text(json.dumps({"rows": rows, "survivors": survivors, "seconds": seconds, "head": head, "note": note},
                                indent=1) + "\n")
    print(text)
    if not args.workdir:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _mutmut_version() -> str:
    from importlib.metadata import version
    return version("mutmut")


if __name__ == "__main__":
    sys.exit(main())
