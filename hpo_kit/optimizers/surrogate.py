"""The scikit-optimize side of :class:`~hpo_kit.optimizers.bo.TimeAwareBO`.

Three small pieces, kept apart from the policy so each can be read and tested alone:

* the map between an hpo_kit :class:`~hpo_kit.space.Space` and skopt dimensions
  (log reals -> ``log-uniform`` reals, log integers -> ``log-uniform`` integers,
  categoricals -> a skopt ``Categorical`` over the choice *indices*, so any choice
  value - ``None``, a tuple, a mix of types - survives skopt's checks);
* :func:`refit`, one pure step: build a fresh skopt ``Optimizer``, tell it a whole
  :class:`Snapshot` in one batch (one model fit) and ask it for the next point;
* :class:`RefitThread`, a daemon thread that runs the policy's refit job whenever
  it is woken, so the engine's loop never waits on a model fit.

Why a fresh skopt ``Optimizer`` per refit: skopt's ``tell`` refits the model on all of
``Xi`` from scratch anyway, so telling the whole history costs the same as telling one
more point; and a fresh optimizer makes "the whole history under one cost" true by
construction (no point is ever told under an older cost).

scikit-optimize 0.10.2 with scikit-learn >= 1.6: its ``GP``, ``RF`` and ``ET`` models work;
``GBRT`` and ``DUMMY`` fail there, so they are refused with a clear error (not patched).
"""
from __future__ import annotations

import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..space import Categorical, Integer, Real, Space

ESTIMATORS = ("GP", "RF", "ET")
ACQ_FUNCS = ("EI", "PI", "LCB", "gp_hedge")
_REFUSED = {
    "GBRT": "skopt 0.10.2's GBRT model fails with scikit-learn >= 1.6",
    "DUMMY": "skopt 0.10.2's DUMMY model fails with scikit-learn >= 1.6 (use RandomSearch for random search)",
}


def check_estimator(name: str) -> str:
    """Return the canonical name of a supported surrogate model.

    Raises
    ------
    ValueError
        For GBRT/DUMMY (broken on current scikit-learn) and unknown names.
    """
    key = name.upper() if isinstance(name, str) else name
    if key in _REFUSED:
        raise ValueError(f"base_estimator={name!r} is refused: {_REFUSED[key]}; choose one of {list(ESTIMATORS)}")
    if key not in ESTIMATORS:
        raise ValueError(f"base_estimator={name!r}: choose one of {list(ESTIMATORS)}")
    return key


def skopt_dimensions(space: Space) -> list[Any]:
    """New skopt dimensions for ``space`` (skopt mutates them when it normalises, so never share)."""
    from skopt import space as sk

    dims: list[Any] = []
    for name, dim in space.items():
        prior = "log-uniform" if getattr(dim, "log", False) else "uniform"
        if isinstance(dim, Real):
            dims.append(sk.Real(dim.low, dim.high, prior=prior, name=name))
        elif isinstance(dim, Integer):
            dims.append(sk.Integer(dim.low, dim.high, prior=prior, name=name))
        elif isinstance(dim, Categorical):
            dims.append(sk.Categorical(list(range(len(dim.choices))), name=name))
        else:  # pragma: no cover - Space validates its dimensions
            raise TypeError(f"dimension {name!r}: unsupported {dim!r}")
    return dims


def to_point(space: Space, config: dict[str, Any]) -> list[Any]:
    """A configuration as a skopt point (categoricals as choice indices)."""
    point: list[Any] = []
    for name, dim in space.items():
        value = config[name]
        if isinstance(dim, Categorical):
            point.append(dim.choices.index(value))
        elif isinstance(dim, Integer):
            point.append(int(value))
        else:
            point.append(float(value))
    return point


def to_config(space: Space, point: Sequence[Any]) -> dict[str, Any]:
    """A skopt point as a configuration of ``space`` (plain Python values, inside the bounds)."""
    config: dict[str, Any] = {}
    for (name, dim), value in zip(space.items(), point):
        if isinstance(dim, Categorical):
            config[name] = dim.choices[int(value)]
        elif isinstance(dim, Integer):
            config[name] = int(min(max(int(round(value)), dim.low), dim.high))
        else:
            config[name] = float(min(max(float(value), dim.low), dim.high))
    return config


@dataclass(frozen=True)
class Snapshot:
    """Everything one refit needs, copied under the policy's lock.

    ``points``/``costs`` are the whole told history under the current cost; ``pending``
    are points of running trials and ``lie`` the value they are told (constant liar only).
    """

    points: list[list[Any]]
    costs: list[float]
    pending: list[list[Any]]
    lie: float | None
    n_observations: int
    epoch: int
    seed: int | None
    previous: Any = None  # the last skopt optimizer of the same cost epoch (gp_hedge carries its gains)


@dataclass(frozen=True)
class Proposal:
    """A refit's result: the next configuration and the fitted skopt optimizer."""

    config: dict[str, Any]
    n_observations: int
    epoch: int
    seconds: float
    model: Any  # skopt.Optimizer; ``model.yi`` are the costs it was told


def refit(space: Space, snap: Snapshot, base_estimator: str, acq_func: str) -> Proposal:
    """Fit a fresh surrogate on the snapshot and ask it for one point.

    BLAS is held to one thread: with two OpenBLAS threads skopt's GP refits ran 2-6x
    slower on the project's shared machine, and the driver shares its cores with workers.
    """
    from skopt import Optimizer as SkOptimizer

    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
        # skopt warns when its best point was already evaluated and it falls back to random.
        warnings.simplefilter("ignore")
        opt = SkOptimizer(skopt_dimensions(space), base_estimator=base_estimator, n_initial_points=0,
                          acq_func=acq_func, random_state=snap.seed)
        if acq_func == "gp_hedge" and snap.previous is not None:
            opt.gains_ = np.array(snap.previous.gains_, dtype=float)
            if hasattr(snap.previous, "next_xs_"):
                opt.next_xs_ = list(snap.previous.next_xs_)
        points, costs = list(snap.points), list(snap.costs)
        if snap.pending and snap.lie is not None:
            points += snap.pending
            costs += [snap.lie] * len(snap.pending)
        opt.tell(points, costs)
        point = opt.ask()
    return Proposal(to_config(space, point), snap.n_observations, snap.epoch, time.perf_counter() - started, opt)


def warm_up() -> None:
    """Import scikit-optimize (about 2 s) before the first refit is needed, off the loop thread."""
    import skopt  # noqa: F401


class RefitThread:
    """Run ``job`` on a daemon thread each time :meth:`wake` is called (wakes coalesce).

    The thread holds only a weak reference to the job's owner, so a forgotten policy is
    garbage-collected and its thread ends. An exception in ``job`` is kept in
    :attr:`error` (the thread goes on; the policy falls back to random points).
    """

    def __init__(self, job: Callable[[], None], name: str = "hpo-kit-refit",
                 warm_up: Callable[[], None] | None = None) -> None:
        self._job = weakref.WeakMethod(job)
        self._warm_up = warm_up
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.error: str | None = None
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()
        # The owner may be dropped without close(): end the thread then (no join in a finaliser).
        weakref.finalize(job.__self__, self._signal_stop)

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self) -> None:
        self._wake.set()

    def _signal_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def close(self, timeout: float | None = None) -> None:
        """Stop the thread after its current refit (if any); waits up to ``timeout`` seconds."""
        self._signal_stop()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        if self._warm_up is not None:
            try:
                self._warm_up()
            except Exception:  # noqa: BLE001 - the first refit will report it
                self.error = traceback.format_exc()
        while True:
            self._wake.wait()
            if self._stop.is_set():
                return
            self._wake.clear()
            job = self._job()
            if job is None:
                return
            try:
                job()
            except Exception:  # noqa: BLE001 - a failed refit must not end the study
                self.error = traceback.format_exc()
            del job  # do not keep the owner alive while waiting
