"""Auto-hetero-associative recurrent networks."""
from .auto_hetero import AutoHeteroOutput, AutoHeteroRNN

__all__ = ["AutoHeteroRNN", "AutoHeteroOutput"]
