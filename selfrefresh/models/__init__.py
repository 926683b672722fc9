"""Auto-hetero-associative networks: recurrent (AutoHeteroRNN) and feed-forward (AutoHeteroMLP)."""
from .auto_hetero import READOUTS, AutoHeteroOutput, AutoHeteroRNN
from .auto_hetero_mlp import AutoHeteroMLP

__all__ = ["AutoHeteroRNN", "AutoHeteroOutput", "AutoHeteroMLP", "READOUTS"]
