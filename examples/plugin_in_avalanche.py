"""Add the self-refreshing memory to an existing Avalanche strategy, on your own tensors.

``SelfRefreshPlugin`` works with any Avalanche ``SupervisedTemplate`` strategy (here ``Naive``):
it keeps a storage network (NET2) and mixes its reverberated pseudo-sequences into every
minibatch. The model should be an ``AutoHeteroRNN`` (its auto head makes reverberation possible).

    python examples/plugin_in_avalanche.py
    SELFREFRESH_EXAMPLE_SMALL=1 python examples/plugin_in_avalanche.py

It trains Naive with and without the plugin and prints the final accuracy on each experience.
"""
import os
import warnings

import torch
from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training import Naive
from avalanche.training.plugins import EvaluationPlugin
from torch.utils.data import TensorDataset

from selfrefresh.models import AutoHeteroRNN
from selfrefresh.strategies import SelfRefreshPlugin

SMALL = os.environ.get("SELFREFRESH_EXAMPLE_SMALL") == "1"
torch.manual_seed(0)
warnings.filterwarnings("ignore", category=UserWarning)  # Avalanche's notices


def my_sequences(n_per_class, n_classes=4, steps=20, features=3):
    """Your data: (N, T, F) float sequences and (N,) int64 labels 0..C-1. Here class c oscillates
    at its own frequency."""
    t = torch.arange(steps, dtype=torch.float32)
    x, y = [], []
    for c in range(n_classes):
        phase = 6.28 * torch.rand(n_per_class, 1)
        wave = torch.sin((0.3 + 0.45 * c) * t + phase)                          # (n, T)
        x.append(wave[..., None] * torch.linspace(1, 2, features) + 0.2 * torch.randn(n_per_class, steps, features))
        y.append(torch.full((n_per_class,), c))
    return torch.cat(x), torch.cat(y)


train_x, train_y = my_sequences(20 if SMALL else 100)
test_x, test_y = my_sequences(10 if SMALL else 50)
# Plain TensorDatasets: Avalanche gives them task label 0, minibatches are (x, y, t).
benchmark = class_incremental_benchmark({"train": TensorDataset(train_x, train_y),
                                         "test": TensorDataset(test_x, test_y)},
                                        class_order=[0, 1, 2, 3], num_classes_per_exp=[2, 2])



def train(plugins):
    """Naive on a fresh AutoHeteroRNN with these plugins; final accuracy on each experience."""
    torch.manual_seed(0)
    model = AutoHeteroRNN(input_size=3, hidden_size=32, num_classes=4, cell="lstm")
    strategy = Naive(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3),
                     criterion=torch.nn.CrossEntropyLoss(), train_mb_size=32, train_epochs=2 if SMALL else 20,
                     eval_mb_size=256, plugins=plugins,
                     evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]))
    for experience in benchmark.train_stream:
        strategy.train(experience)
    results = strategy.eval(benchmark.test_stream)
    return [v for k, v in sorted(results.items()) if k.startswith("Top1_Acc_Exp/eval_phase/test_stream")]


for name, plugins in (("naive", []), ("naive + SelfRefreshPlugin", [SelfRefreshPlugin()])):
    accs = train(plugins)
    print(f"{name:26s} final accuracy per experience", " ".join(f"{a:.2f}" for a in accs))
