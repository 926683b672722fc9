"""Recurrent cells and layers (Elman SRN, RNN, GRU, LSTM) with torch.nn conventions."""
from .recurrent import (CELL_TYPES, GRU, LSTM, RNN, SRN, GRUCell, LSTMCell, RNNCell, SRNCell,
                        make_layer)
from .frozen import frozen

__all__ = ["SRN", "SRNCell", "RNN", "RNNCell", "GRU", "GRUCell", "LSTM", "LSTMCell", "make_layer",
           "CELL_TYPES", "frozen"]
