"""Avalanche strategies and plugins: the dual self-refreshing network."""
from .self_refresh import SelfRefresh, SelfRefreshPlugin, make_generator

__all__ = ["SelfRefresh", "SelfRefreshPlugin", "make_generator"]
