"""The ``optimizer=`` shorthand: a name or one policy object becomes a scheduler with its searcher.

``"random"``, ``"grid"``, ``"bo"`` and ``"mobo"`` (:class:`~hpo_kit.searchers.parego.ParEGO`) are that searcher under :class:`~hpo_kit.schedulers.FIFO`;
``"asha"``, ``"hyperband"`` and ``"hypersearch"`` are those schedulers over random search. A
:class:`~hpo_kit.searchers.Searcher` runs under FIFO; a :class:`~hpo_kit.schedulers.Scheduler` as it
is. ``Study(searcher=..., scheduler=...)`` composes any searcher with any scheduler
(:func:`make_policy`). Everything here imports without Dask, torch or pandas.
"""
from __future__ import annotations

from typing import Any

from ..decisions import Decision, Resume, Start, Suggestion
from ..schedulers import ASHA, FIFO, Hyperband, Hypersearch, Scheduler, SuccessiveHalving
from ..searchers import AskTellSearcher, GridSearch, RandomSearch, Searcher

#: The scheduler the engine drives (the name the first releases used).
Optimizer = Scheduler

NAMES = ("random", "grid", "bo", "mobo", "asha", "hyperband", "hypersearch")


def __getattr__(name: str) -> Any:  # PEP 562: TimeAwareBO loads scikit-optimize on first use
    if name == "TimeAwareBO":
        from ..searchers.bo import TimeAwareBO

        return TimeAwareBO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def by_name(name: str) -> Scheduler:
    """The policy a name stands for, with its defaults."""
    if name == "bo":
        from ..searchers.bo import TimeAwareBO

        return FIFO(TimeAwareBO())
    if name == "mobo":
        from ..searchers.parego import ParEGO

        return FIFO(ParEGO())
    table = {"random": lambda: FIFO(RandomSearch()), "grid": lambda: FIFO(GridSearch()), "asha": ASHA,
             "hyperband": lambda: Hyperband(), "hypersearch": Hypersearch}
    if name not in table:
        raise ValueError(f"optimizer={name!r}: choose one of {list(NAMES)}, or pass a Searcher or Scheduler")
    return table[name]()


def make_policy(optimizer: Any = None, searcher: Searcher | None = None,
                scheduler: Scheduler | None = None) -> Scheduler:
    """The scheduler a study drives, from ``optimizer=`` or ``searcher=`` / ``scheduler=``.

    Raises
    ------
    ValueError
        For an unknown name, or ``optimizer=`` given together with ``searcher=``/``scheduler=``.
    TypeError
        For an object that is neither a searcher nor a scheduler (names the argument).
    """
    if optimizer is not None and (searcher is not None or scheduler is not None):
        raise ValueError("optimizer= is a shorthand for searcher=/scheduler=: give one or the other")
    if searcher is not None and not isinstance(searcher, Searcher):
        raise TypeError(f"searcher={searcher!r} is not a Searcher (e.g. RandomSearch(), TimeAwareBO())")
    if scheduler is not None and not isinstance(scheduler, Scheduler):
        raise TypeError(f"scheduler={scheduler!r} is not a Scheduler (e.g. ASHA(), FIFO())")
    if optimizer is None:
        policy = scheduler if scheduler is not None else FIFO()
        if searcher is not None:
            policy.searcher = searcher
        return policy
    if isinstance(optimizer, str):
        return by_name(optimizer)
    if isinstance(optimizer, Scheduler):
        return optimizer
    if isinstance(optimizer, Searcher):
        return FIFO(optimizer)
    raise TypeError(f"optimizer={optimizer!r}: pass one of {list(NAMES)}, a Searcher or a Scheduler")


__all__ = ["ASHA", "AskTellSearcher", "Decision", "FIFO", "GridSearch", "Hyperband", "Hypersearch", "Optimizer",
           "RandomSearch", "Resume", "Scheduler", "Searcher", "Start", "Suggestion", "SuccessiveHalving",
           "TimeAwareBO", "by_name", "make_policy"]
