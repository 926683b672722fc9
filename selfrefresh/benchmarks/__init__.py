"""Deprecated alias of :mod:`selfrefresh.streams` (the streams' package until version 0.x).

``import selfrefresh.benchmarks`` and ``from selfrefresh.benchmarks.uea import ...`` keep working
(the same module objects as under ``selfrefresh.streams``) and warn once; use ``selfrefresh.streams``.
"""
import importlib
import importlib.abc
import importlib.util
import sys
import warnings

warnings.warn("selfrefresh.benchmarks was renamed selfrefresh.streams; import from selfrefresh.streams",
              DeprecationWarning, stacklevel=2)

from selfrefresh import streams as _streams  # noqa: E402

__all__ = list(_streams.__all__)

__path__ = []  # a package, so that its submodules resolve (to those of selfrefresh.streams)


class _StreamsAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``selfrefresh.benchmarks.X`` as the already-importable ``selfrefresh.streams.X``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + "."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        module = importlib.import_module("selfrefresh.streams" + spec.name[len(__name__):])
        spec.loader_state = module.__spec__  # the import machinery overwrites __spec__: put it back
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state


if not any(type(f).__name__ == "_StreamsAlias" for f in sys.meta_path):
    sys.meta_path.append(_StreamsAlias())


def __getattr__(name):
    return getattr(_streams, name)
