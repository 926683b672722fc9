"""The registries: every strategy builds, trains, checkpoints and resumes; generators by name;
the generator protocol (configure, state_dict); no import from a higher layer."""
import ast
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from selfrefresh.experiment import RunConfig, run_dir, run_experiment
from selfrefresh.generators import (GENERATORS, LearnedSequenceGenerator, Noise, RecurrentGAN, Reverberation,
                                    configure_generator, make_generator)
from selfrefresh.generators.registry import STRATEGY_REVERBERATION_DEFAULTS, generator_spec
from selfrefresh.models import AutoHeteroRNN
from selfrefresh.strategies.registry import (NOT_RESUMABLE, STRATEGIES, STRATEGY_NAMES, make_strategy,
                                             stored_real_samples, strategy_spec)

from test_experiment import _toy

# Tiny settings per strategy, so that one experience takes a moment (the GAN's and the VAE's own
# training after each experience included).
TINY_OPTIONS = {
    "selfrefresh": {"transfer_steps": 2},
    "selfrefresh-gan": {"generator_kwargs": {"update_epochs": 1, "hidden_size": 8, "num_layers": 1}},
    "generative-replay": {"hidden_size": 8, "latent_size": 4},
    "replay": {"mem_size": 8},
    "gem": {"patterns_per_exp": 4},
    "agem": {"patterns_per_exp": 4, "sample_size": 4},
}


def _cfg(strategy):
    return RunConfig(stream="toy", strategy=strategy, epochs=1, hidden_size=8, batch_size=16, device="cpu",
                     progress=False, strategy_options=TINY_OPTIONS.get(strategy, {}))


@pytest.fixture(scope="module")
def bench():
    return _toy(n_experiences=2)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_trains_checkpoints_and_resumes(tmp_path, bench, name):
    full = run_experiment(_cfg(name), tmp_path / "full", benchmark=bench)
    assert full["finished"] and full["stored_real_samples"] >= 0
    part = run_experiment(_cfg(name), tmp_path / "cut", benchmark=bench, stop_after=1)
    assert len(part["accuracy_matrix"]) == 1
    # the checkpoint is tensors and plain values only
    torch.load(run_dir(tmp_path / "cut", _cfg(name)) / "checkpoint.pt", weights_only=True)
    resumed = run_experiment(_cfg(name), tmp_path / "cut", benchmark=bench, resume=True)
    assert resumed["finished"]
    if name == "joint":  # one row: the cut run had already finished
        assert resumed == part
    elif name in NOT_RESUMABLE:
        assert resumed["resumed_from"] == 0
    else:
        assert resumed["resumed_from"] == 1
        assert resumed["accuracy_matrix"] == full["accuracy_matrix"]


def test_strategy_specs_and_spellings():
    import selfrefresh.strategies as strategies
    assert strategies.StrategySpec is STRATEGIES["naive"].__class__   # loaded on first use
    with pytest.raises(AttributeError, match="module 'selfrefresh.strategies' has no attribute 'Nope'"):
        strategies.Nope
    assert set(STRATEGY_NAMES) == set(STRATEGIES) and len(STRATEGY_NAMES) == 15
    assert strategy_spec("selfrefresh_plain") is STRATEGIES["selfrefresh-plain"]
    assert strategy_spec("Generative_Replay").name == "generative-replay"
    with pytest.raises(ValueError, match=r"^unknown strategy 'nope'; choose one of: "
                                         + re.escape(", ".join(STRATEGY_NAMES)) + "$"):
        strategy_spec("nope")
    # presets share the build and add their defaults; the registry's defaults are not changed by a build
    assert STRATEGIES["selfrefresh-gan"].build is STRATEGIES["selfrefresh"].build
    m = AutoHeteroRNN(3, 4, 4)
    s = make_strategy("selfrefresh_gan", m, torch.optim.Adam(m.parameters()), seq_len=6, train_mb_size=4,
                      options={"generator_kwargs": {"update_epochs": 1, "hidden_size": 4, "num_layers": 1}})
    assert isinstance(s.refresh.generator, RecurrentGAN) and s.refresh.generator.seq_len == 6
    gan = s.refresh.generator                                      # the options' generator_kwargs reach it
    assert (gan.update_epochs, gan.generator.hidden_size, gan.generator.num_layers) == (1, 4, 1)
    assert STRATEGIES["selfrefresh-gan"].defaults == {"generator": "gan", "generator_kwargs": {"update_epochs": 200}}
    # the old module keeps its names
    from selfrefresh.strategies import baselines
    assert baselines.make_strategy is make_strategy and baselines.NOT_RESUMABLE == NOT_RESUMABLE
    assert baselines.DEFAULT_OPTIONS["replay"] == {"mem_size": 200}


def test_selfrefresh_counts_real_seed_sequences():
    m = AutoHeteroRNN(3, 4, 4)
    opt = torch.optim.Adam(m.parameters())
    plain = make_strategy("selfrefresh", m, opt, seq_len=6)
    assert stored_real_samples(plain, "selfrefresh") == 0
    seeded = make_strategy("selfrefresh", m, opt, seq_len=6, options={"generator_kwargs": {"seeds": torch.randn(5, 6, 3)}})
    assert stored_real_samples(seeded, "selfrefresh") == 5
    noise = make_strategy("selfrefresh", m, opt, seq_len=6,
                          options={"generator": "noise", "generator_kwargs": {"seeds": torch.randn(7, 6, 3)}})
    assert stored_real_samples(noise, "selfrefresh") == 7


# --------------------------------------------------------------------------- generators

def test_make_generator_matches_the_strategy_files_own():
    from selfrefresh.strategies.self_refresh import make_generator as old
    assert STRATEGY_REVERBERATION_DEFAULTS == {"reverberations": 5, "steer_steps": 5}
    for name, kw in ((None, {}), ("reverberation", {"seq_len": 5}), ("reverberation", {"steer_steps": 0}),
                     ("static", {"reverberations": 2}), ("noise", {"seq_len": 4, "steer_steps": 3})):
        a, b = make_generator(name, **kw), old(name, **kw)
        assert type(a) is type(b)
        assert {k: v for k, v in vars(a).items() if k != "_gen"} == {k: v for k, v in vars(b).items() if k != "_gen"}
    static = make_generator("static", reverberations=2)
    assert static.mode == "static" and static.reverberations == 2
    noise = make_generator("noise", seq_len=4, noise_std=0.3, steer_steps=3)  # steer_steps: not a noise option
    assert type(noise) is Noise and (noise.seq_len, noise.noise_std) == (4, 0.3)
    g = Reverberation()
    assert make_generator(g) is g
    with pytest.raises(ValueError, match="unknown generator 'nope'; choose 'reverberation', 'static', 'noise'"):
        make_generator("nope")
    with pytest.raises(TypeError, match=r"^a generator needs a sample\(n\) method; got object$"):
        make_generator(object())
    gan = make_generator("gan", seq_len=5, n_features=3, num_classes=2, hidden_size=4, num_layers=1)
    assert isinstance(gan, RecurrentGAN)
    for name in ("ar-rnn", "ar_rnn", "vae"):
        assert isinstance(make_generator(name, seq_len=5, n_features=3, num_classes=2, hidden_size=4),
                          LearnedSequenceGenerator)
    assert {n for n, s in GENERATORS.items() if s.learned} == {"gan", "ar-rnn", "vae"}
    assert generator_spec("AR_RNN").name == "ar-rnn"


def test_configure_sets_network_classes_and_moments():
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    for g in (Reverberation(seq_len=6, steer_steps=2), Noise(seq_len=6)):
        assert g.classes is None and g.network is None     # before configure: no steering, no network
        assert g.configure(net, classes=[2, 0], moments=(torch.full((3,), 5.0), torch.full((3,), 1e-3))) is g
        assert g.network is net and g.classes == [2, 0]
        x = g.sample(16).x
        assert x.shape == (16, 6, 3)
        if isinstance(g, Noise):  # seeds drawn around the moments
            assert (x - 5.0).abs().max() < 0.1
        g.configure(net)
        assert g.classes is None and g.mean is None and g.std is None
    gan = RecurrentGAN(seq_len=6, n_features=3, num_classes=4, hidden_size=4, num_layers=1)
    gan.configure(net, classes=[1], moments=(torch.zeros(3), torch.ones(3)))
    assert gan.network is net

    class UserGenerator:  # only the required sample(n): configure_generator sets its network
        network = None

        def sample(self, n):
            raise NotImplementedError

    user = configure_generator(UserGenerator(), net, classes=[1])
    assert user.network is net
    # a generator with configure gets all three through it
    rev = configure_generator(Reverberation(seq_len=6), net, classes=[2, 0],
                              moments=(torch.full((3,), 5.0), torch.full((3,), 2.0)))
    assert rev.network is net and rev.classes == [2, 0]
    assert torch.equal(rev.mean, torch.full((3,), 5.0)) and torch.equal(rev.std, torch.full((3,), 2.0))


def test_generator_state_dict_restores_the_random_state():
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    g = Reverberation(seq_len=6, steer_steps=0).configure(net)
    g.manual_seed(3)
    g.sample(4)
    state = g.state_dict()
    assert set(state) == {"rng", "seq_len"} and state["seq_len"] == 6
    first = g.sample(4).x
    other = Reverberation(steer_steps=0).configure(net)
    other.load_state_dict({k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()})
    assert other.seq_len == 6 and torch.equal(other.sample(4).x, first)


# --------------------------------------------------------------------------- layers

# A module may import from its own package and from packages of a lower rank only. streams and
# metrics are independent low layers (same rank, so neither imports the other).
# _checks and _files (argument checks, safe file reading and writing) sit under everything.
LAYERS = {"_checks": -1, "_files": -1, "dynamics": 0, "nn": 0, "metrics": 1, "streams": 1, "benchmarks": 1,
          "models": 1, "generators": 2, "strategies": 3, "replication": 4, "analysis": 4, "plots": 4, "runs": 5,
          "experiment": 6, "cli": 7}  # experiment: the old names of runs


def _imports(path: Path, package: str):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target + "." + a.name for a in node.names] if not node.module and node.level else [target]
            yield from ((node.lineno, t) for t in names)
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name) for a in node.names)


def test_no_module_imports_from_a_higher_layer():
    root = Path(__file__).resolve().parents[1] / "selfrefresh"
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        package = ".".join(parts if path.name == "__init__.py" else parts[:-1])
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) < 2:
            continue  # selfrefresh/__init__.py
        own = parts[1]
        assert own in LAYERS, f"{rel}: add the package {own!r} to LAYERS"
        for line, target in _imports(path, package):
            tparts = target.split(".")
            if tparts[0] != "selfrefresh" or len(tparts) < 2 or tparts[1] == own:
                continue
            if tparts[1] not in LAYERS or LAYERS[tparts[1]] >= LAYERS[own]:
                bad.append(f"{rel}:{line} imports {target}")
    assert not bad, "\n".join(bad)


def _after_one_experience(name, bench, train=True, **kw):
    from avalanche.training.plugins.evaluation import EvaluationPlugin
    torch.manual_seed(0)
    m = AutoHeteroRNN(3, 8, 4, cell="gru")
    s = make_strategy(name, m, torch.optim.Adam(m.parameters(), 1e-2), seq_len=10, train_mb_size=16,
                      train_epochs=1, evaluator=EvaluationPlugin(loggers=[]), **kw)
    if train:
        s.train(bench.train_stream[0])
    return s


@pytest.mark.parametrize("name", ["ewc", "lwf"])
def test_baseline_state_loads_into_a_fresh_strategy(bench, name):
    from collections import defaultdict

    from selfrefresh.strategies.registry import load_strategy_state, strategy_state
    from selfrefresh.strategies.spec import find_plugin
    trained = _after_one_experience(name, bench)
    fresh = _after_one_experience(name, bench, train=False)
    load_strategy_state(fresh, name, strategy_state(trained, name))
    if name == "ewc":
        a, b = find_plugin(trained, "EWCPlugin"), find_plugin(fresh, "EWCPlugin")
        assert isinstance(b.saved_params, defaultdict) and b.saved_params.default_factory is dict
        assert b.importances.default_factory is dict and set(b.importances) == set(a.importances) == {0}
        for k, v in a.saved_params[0].items():
            assert torch.equal(b.saved_params[0][k].data, v.data)
    else:
        a, b = find_plugin(trained, "LwFPlugin").lwf, find_plugin(fresh, "LwFPlugin").lwf
        assert a.prev_model is not None and b.prev_model is not None
        for (k, v), w in zip(a.prev_model.state_dict().items(), b.prev_model.state_dict().values()):
            assert torch.equal(v, w), k
        # the restored teacher is a copy: training the fresh model does not move it
        model_ptrs = {p.data_ptr() for p in fresh.model.parameters()}
        assert not model_ptrs & {p.data_ptr() for p in b.prev_model.parameters()}


def test_baselines_get_their_options_criterion_and_counts(bench):
    from avalanche.training import supervised
    replay = _after_one_experience("replay", bench, options={"mem_size": 8})
    assert stored_real_samples(replay, "replay") == 8
    crit = nn.CrossEntropyLoss()
    assert _after_one_experience("ewc", bench, train=False, criterion=crit)._criterion is crit
    assert STRATEGIES["si"].option_target() is supervised.SynapticIntelligence
    assert STRATEGIES["replay"].option_target() is supervised.Replay


def test_make_strategy_evaluator_and_cumulative_state(bench):
    from avalanche.training.plugins.evaluation import EvaluationPlugin, default_evaluator

    from selfrefresh.strategies.registry import load_strategy_state
    m = AutoHeteroRNN(3, 8, 4, cell="gru")
    opt = torch.optim.Adam(m.parameters())
    ev = EvaluationPlugin(loggers=[])
    assert make_strategy("naive", m, opt, evaluator=ev).evaluator is ev
    # evaluator=None means Avalanche's default evaluator (not its empty EvaluationPlugin())
    default = make_strategy("naive", m, opt, evaluator=None).evaluator
    assert [type(x) for x in default.loggers] == [type(x) for x in default_evaluator().loggers] != []
    # cumulative rebuilds what it had seen from the finished experiences
    cumulative = _after_one_experience("cumulative", bench, train=False)
    load_strategy_state(cumulative, "cumulative", {}, finished_experiences=[bench.train_stream[0]])
    assert stored_real_samples(cumulative, "cumulative") == len(bench.train_stream[0].dataset)


def test_selfrefresh_specs_check_the_model_pass_common_arguments_and_keep_generator_state():
    from selfrefresh.strategies.registry import load_strategy_state, strategy_state
    seq = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    opt = torch.optim.SGD(seq.parameters(), 0.1)
    with pytest.raises(TypeError, match=r"with \.input_size/\.num_classes; got Sequential"):
        make_strategy("selfrefresh-gan", seq, opt, seq_len=4)
    with pytest.raises(TypeError, match=r"with \.input_size/\.run; got Sequential"):
        make_strategy("selfrefresh", seq, opt, seq_len=4)
    m = AutoHeteroRNN(3, 4, 4)
    s = make_strategy("selfrefresh", m, torch.optim.Adam(m.parameters()), seq_len=6, train_mb_size=8)
    assert s.train_mb_size == 8
    state = strategy_state(s, "selfrefresh")
    assert set(state["generator"]) == {"rng", "seq_len"} and state["generator"]["seq_len"] == 6

    class TupleStateGenerator:  # a user's generator whose state holds a tuple
        network, loaded = None, None

        def sample(self, n):
            raise NotImplementedError

        def state_dict(self):
            return {"pair": (torch.zeros(2), 3)}

        def load_state_dict(self, state):
            self.loaded = state

    def with_generator():
        return make_strategy("selfrefresh", m, torch.optim.Adam(m.parameters()), seq_len=6,
                             options={"generator": TupleStateGenerator()})
    saved = strategy_state(with_generator(), "selfrefresh")
    restored = with_generator()
    load_strategy_state(restored, "selfrefresh", saved)
    pair = restored.refresh.generator.loaded["pair"]
    assert isinstance(pair, tuple) and torch.equal(pair[0], torch.zeros(2)) and pair[1] == 3
    # an instance is used as given: the run's config records no generator keywords for it (make_generator
    # would ignore them), though seq_len was known
    assert restored.config.generator_kwargs is None and s.config.generator_kwargs == {"seq_len": 6}


def test_strategy_spec_presets_and_helpers():
    from selfrefresh.strategies.spec import StrategySpec as Spec
    from selfrefresh.strategies.spec import nothing_stored

    def build(a):
        return a

    base = Spec("base", build, {"x": 1, "nested": {"k": 1}}, summary="the base")
    p = base.preset("other", {"y": 2})
    assert (p.name, p.build, p.summary) == ("other", build, "the base")
    assert p.defaults == {"x": 1, "nested": {"k": 1}, "y": 2} and p.defaults["nested"] is not base.defaults["nested"]
    assert base.preset("third", {}, "its own").summary == "its own" and base.name == "base"
    assert nothing_stored(object()) == 0
    m = AutoHeteroRNN(3, 4, 4)
    assert stored_real_samples(make_strategy("naive", m, torch.optim.Adam(m.parameters())), "naive") == 0
    with pytest.raises(ValueError, match=r"^the generative-replay strategy needs the sequence length: pass seq_len=$"):
        make_strategy("generative-replay", m, torch.optim.Adam(m.parameters()))


def test_state_codec_round_trips_nested_containers():
    from avalanche.training.utils import ParamData

    from selfrefresh.strategies.state_codec import decode_state, encode_state
    pd = ParamData("w", shape=(2, 3), init_tensor=torch.arange(6.0).view(2, 3))
    state = {"s": {3, 1}, "t": (torch.ones(2), [torch.zeros(1), 5]), "l": [torch.full((2,), 4.0), "x"], "p": pd}
    enc = encode_state(state)
    assert enc["s"] == {"__set__": [1, 3]} and enc["p"]["__paramdata__"] == "w"
    dec = decode_state(enc, "cpu")
    assert dec["s"] == {1, 3} and isinstance(dec["t"], tuple) and torch.equal(dec["t"][0], torch.ones(2))
    assert torch.equal(dec["t"][1][0], torch.zeros(1)) and dec["t"][1][1] == 5
    assert torch.equal(dec["l"][0], torch.full((2,), 4.0)) and dec["l"][1] == "x"
    assert isinstance(dec["p"], ParamData) and dec["p"].name == "w" and dec["p"].shape == (2, 3)
    assert torch.equal(dec["p"].data, pd.data)
    with pytest.raises(TypeError, match=r"^cannot write object to a tensors-only checkpoint$"):
        encode_state({"bad": object()})


def test_avalanche_build_functions_pass_the_options():
    from avalanche.training import supervised
    from avalanche.training.plugins.evaluation import EvaluationPlugin

    from selfrefresh.strategies import baselines
    from selfrefresh.strategies.spec import BuildArgs, find_plugin
    m = AutoHeteroRNN(3, 4, 4)
    args = BuildArgs(name="replay", model=m, optimizer=torch.optim.Adam(m.parameters()), criterion=nn.CrossEntropyLoss(),
                     options={"mem_size": 8}, seq_len=None, common={"evaluator": EvaluationPlugin(loggers=[])})
    s = baselines._avalanche("Replay", True)(args)
    assert isinstance(s, supervised.Replay) and find_plugin(s, "ReplayPlugin").mem_size == 8
    assert baselines._avalanche_class("GEM")() is supervised.GEM


def test_agem_counts_the_patterns_it_stored(bench):
    agem = _after_one_experience("agem", bench, options={"patterns_per_exp": 4, "sample_size": 4})
    assert stored_real_samples(agem, "agem") == 4
