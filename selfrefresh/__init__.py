"""selfrefresh: dual self-refreshing recurrent networks for continual learning of sequences."""
__version__ = "0.1.0"
