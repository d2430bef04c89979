"""The map between an hpo_kit :class:`~hpo_kit.space.Space` and scikit-optimize's dimensions.

Log reals become ``log-uniform`` reals, log integers ``log-uniform`` integers, and categoricals
a skopt ``Categorical`` over the choice *indices*, so any choice value (``None``, a tuple, a mix of
types) survives skopt's checks. Also which surrogate models are supported. Kept apart from the
refit (:mod:`.surrogate`) so each can be read alone.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
