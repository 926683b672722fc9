"""A complete forgetting-curve experiment: SelfRefresh vs Naive vs Cumulative, with Avalanche.

    python examples/forgetting_curves.py            # synthetic speech, 3 experiences (a few minutes)
    SELFREFRESH_EXAMPLE_SMALL=1 python examples/forgetting_curves.py   # seconds
"""
import os
import warnings

import torch
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training import Cumulative, Naive
from avalanche.training.plugins import EvaluationPlugin

from selfrefresh.streams import get_stream
from selfrefresh.models import AutoHeteroRNN
from selfrefresh.runs.plots import plot_forgetting_curves, plot_stream_average
from selfrefresh.strategies import SelfRefresh

SMALL = os.environ.get("SELFREFRESH_EXAMPLE_SMALL") == "1"
OUT = os.environ.get("SELFREFRESH_EXAMPLE_OUT", "results/forgetting_curves")
EPOCHS = 2 if SMALL else 25
torch.manual_seed(0)
warnings.filterwarnings("ignore", category=UserWarning)  # Avalanche's notices

# 1. A class-incremental stream: 6 spoken words, 3 experiences of 2 words.
benchmark = get_stream("speech")(words=("yes", "no", "up", "down", "left", "right"), n_experiences=3,
                                 n_voices=6 if SMALL else 24, test_voices=2 if SMALL else 4,
                                 speeds=(175,) if SMALL else (130, 175, 220), progress=False)

# 2. One model, optimizer and strategy per method; all share the training settings.
def make(name):
    model = AutoHeteroRNN(benchmark.input_size, 16 if SMALL else 64, benchmark.num_classes, cell="gru")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    evaluator = EvaluationPlugin(accuracy_metrics(experience=True), loggers=[])
    kw = dict(train_mb_size=32, train_epochs=EPOCHS, eval_mb_size=256, evaluator=evaluator)
    cls = {"naive": Naive, "cumulative": Cumulative}.get(name)
    if cls is not None:
        return cls(model=model, optimizer=opt, criterion=torch.nn.CrossEntropyLoss(), **kw)
    return SelfRefresh(model=model, optimizer=opt, **kw)

# 3. Train experience by experience; after each, test on every experience's test set.
runs = []
for name in ("naive", "selfrefresh", "cumulative"):
    strategy, matrix = make(name), []
    for experience in benchmark.train_stream:
        strategy.train(experience)
        results = strategy.eval(benchmark.test_stream)
        matrix.append([v for k, v in sorted(results.items()) if k.startswith("Top1_Acc_Exp/eval_phase/test")])
    runs.append({"stream": "speech", "strategy": name, "accuracy_matrix": matrix})
    print(f"{name:12s} final accuracy per experience:", " ".join(f"{a:.2f}" for a in matrix[-1]))

# 4. The forgetting curves: one panel per strategy, and the stream average.
os.makedirs(OUT, exist_ok=True)
print("wrote", plot_forgetting_curves(runs, f"{OUT}/forgetting.png"), plot_stream_average(runs, f"{OUT}/average.png"))
