"""Searchers: what to try next (random, grid, time-aware BO, multi-objective BO (ParEGO), any ask/tell sampler). See :mod:`.base`."""
from .adapter import AskTellSearcher
from .base import Searcher
from .grid import GridSearch
from .random import RandomSearch


def __getattr__(name: str):  # PEP 562: BO pulls in scikit-optimize only when asked for
    if name == "TimeAwareBO":
        from .bo import TimeAwareBO

        return TimeAwareBO
    if name == "ParEGO":
        from .parego import ParEGO

        return ParEGO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AskTellSearcher", "GridSearch", "RandomSearch", "ParEGO", "Searcher", "TimeAwareBO"]
