"""Search spaces: named real, integer and categorical dimensions, optionally conditional.

A :class:`Space` validates its own definition (errors name the field and the value),
samples seeded configurations, enumerates grids, and maps configurations to and from
the unit cube. The unit-cube map is what the neighbourhood sampler of Hypersearch and
the BO adapter build on, so every dimension type defines "near" in one place.

Numeric limits
--------------
``bool`` is never a number here (``True`` as a bound or a value is a bug, not 1). A
:class:`Real` works in float64: its bounds must convert to finite floats. An
:class:`Integer` is sampled exactly in int64, so its bounds must lie in
``[-2**63, 2**63 - 1]``; its unit-cube map is computed on offsets from ``low`` and is exact
(``from_unit(to_unit(v)) == v``) while ``high - low`` stays well below ``2**52``, beyond
which a float64 coordinate cannot tell neighbouring integers apart.
Conditional dimensions (``when=``, active only for some values of a parent; absent from a
configuration when inactive) are defined and walked in :mod:`hpo_kit.conditions`.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from . import conditions
from .conditions import Condition, Conditional, parse_when

_INT64 = (-(2 ** 63), 2 ** 63 - 1)
# Integer cells: each integer owns [v - _HALF, v + _HALF] on its (log) axis, so "near" means
# near cells and a uniform u gives every integer its fair share (just under 0.5, so that
# rounding at a cell edge never leaves [low, high]).
_HALF = 0.4999


class SpaceError(ValueError):
    """A search space or a configuration is invalid; the message names the field."""


def _is_number(value: Any) -> bool:
    # bool (and numpy's bool_) would pass as 0/1; in a search space it is always a mistake.
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_order(name: str, low: Any, high: Any, log: bool) -> None:
    if not low < high:
        raise SpaceError(f"dimension {name!r}: low={low!r} must be < high={high!r}")
    if log and low <= 0:
        raise SpaceError(f"dimension {name!r}: log scale needs low > 0, got low={low!r}")


@dataclass(frozen=True)
class Real(Conditional):
    """A real-valued dimension on ``[low, high]``, linear or log scale (float64); ``when``: see conditions."""

    low: float
    high: float
    log: bool = False
    when: Any = field(default=(), repr=False)

    def validate(self, name: str) -> None:
        """Raise :class:`SpaceError` naming ``name`` unless the bounds make a usable float64 axis."""
        for label, value in (("low", self.low), ("high", self.high)):
            if not _is_number(value):
                raise SpaceError(f"dimension {name!r}: {label}={value!r} is not a number")
            try:
                as_float = float(value)
            except OverflowError:  # a huge Python int: float() cannot hold it
                raise SpaceError(f"dimension {name!r}: {label}={value!r} does not fit a float64") from None
            if not math.isfinite(as_float):
                raise SpaceError(f"dimension {name!r}: {label}={value!r} is not finite")
        _check_order(name, self.low, self.high, self.log)
        lo, hi = float(self.low), float(self.high)
        # Int bounds can differ yet round to one float (10**18, 10**18 + 1): nothing to sample.
        if not lo < hi:
            raise SpaceError(f"dimension {name!r}: low={self.low!r} and high={self.high!r} are one float64")
        if self.log and not math.log(lo) < math.log(hi):  # else to_unit divides by zero
            raise SpaceError(f"dimension {name!r}: log scale cannot resolve low={self.low!r} to high={self.high!r}; "
                             "use a linear scale")

    def to_unit(self, value: Any) -> float:
        lo, hi, value = float(self.low), float(self.high), float(value)
        if self.log:
            return (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        if math.isinf(hi - lo):  # the span overflows (-1e308, 1e308); the halved span cannot
            return (value / 2 - lo / 2) / (hi / 2 - lo / 2)
        return (value - lo) / (hi - lo)

    def from_unit(self, u: float) -> float:
        u = float(u)
        lo, hi = float(self.low), float(self.high)
        if u <= 0.0 or u >= 1.0:  # exact bounds, not exp(log(bound))
            return lo if u <= 0.0 else hi
        if self.log:
            value = math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        elif math.isinf(hi - lo):
            # lo + u * inf is inf; the weighted mean never overflows (|lo|, |hi| bound each term).
            value = (1.0 - u) * lo + u * hi
        else:
            value = lo + u * (hi - lo)
        return min(max(value, lo), hi)  # rounding must not leave the interval

    def sample(self, rng: np.random.Generator) -> float:
        """One value, uniform (log-uniform on a log scale); one ``rng.random()`` draw."""
        return self.from_unit(rng.random())

    def contains(self, value: Any) -> bool:
        return _is_number(value) and self.low <= value <= self.high

    def grid(self, n: int) -> list[float]:
        return [self.from_unit(u) for u in np.linspace(0.0, 1.0, n)]


@dataclass(frozen=True)
class Integer(Conditional):
    """An integer dimension on ``[low, high]`` (both included), linear or log scale (int64); ``when``: as Real."""

    low: int
    high: int
    log: bool = False
    when: Any = field(default=(), repr=False)

    def validate(self, name: str) -> None:
        """Raise :class:`SpaceError` naming ``name`` unless the bounds are int64 integers, low < high."""
        for label, value in (("low", self.low), ("high", self.high)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
                raise SpaceError(f"dimension {name!r}: {label}={value!r} is not an integer")
            # Sampling is exact in int64 (rng.integers); a wider bound would overflow there.
            if not _INT64[0] <= int(value) <= _INT64[1]:
                raise SpaceError(f"dimension {name!r}: {label}={value!r} is outside the int64 range "
                                 "[-2**63, 2**63 - 1]")
        _check_order(name, int(self.low), int(self.high), self.log)

    # The unit-cube map works on the exact offset v - low (Python ints), so large bounds such
    # as 10**18 keep every integer apart; floats only ever hold offsets and cell positions.
    def _span(self) -> float:
        return (int(self.high) - int(self.low)) + 2 * _HALF  # width of all cells together

    def _base(self) -> float:
        return int(self.low) - _HALF  # left edge of the first cell (> 0 on a log scale: low >= 1)

    def to_unit(self, value: Any) -> float:
        offset = (int(value) - int(self.low)) + _HALF
        if self.log:  # log(v / base) / log(top / base), via log1p so that nearby large bounds stay apart
            base = self._base()
            return math.log1p(offset / base) / math.log1p(self._span() / base)
        return offset / self._span()

    def from_unit(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            base = self._base()
            offset = base * math.expm1(u * math.log1p(self._span() / base))
        else:
            offset = u * self._span()
        steps = round(offset - _HALF)
        return int(self.low) + min(max(steps, 0), int(self.high) - int(self.low))

    def sample(self, rng: np.random.Generator) -> int:
        """One value: uniform over the integers (exact, int64), or log-uniform over the cells."""
        if self.log:
            return self.from_unit(rng.random())
        return int(rng.integers(int(self.low), int(self.high), endpoint=True))

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and self.low <= value <= self.high

    def grid(self, n: int) -> list[int]:
        return sorted({self.from_unit(u) for u in np.linspace(0.0, 1.0, n)})


@dataclass(frozen=True)
class Categorical:
    """A categorical dimension over a non-empty tuple of choices (order is kept)."""

    choices: tuple
    when: tuple[Condition, ...] = field(default=(), repr=False)

    def __init__(self, choices: Any, when: Any = None) -> None:
        object.__setattr__(self, "choices", tuple(choices) if isinstance(choices, (list, tuple)) else choices)
        object.__setattr__(self, "when", parse_when(when))

    def validate(self, name: str) -> None:
        if not isinstance(self.choices, tuple):
            raise SpaceError(f"dimension {name!r}: choices={self.choices!r} must be a list or tuple")
        if len(self.choices) == 0:
            raise SpaceError(f"dimension {name!r}: choices is empty")
        # 1, 1.0 and True compare equal, so a configuration (and ``choices.index``) cannot tell
        # them apart: any two equal choices are duplicates, whatever their types or reprs.
        for i, a in enumerate(self.choices):
            for b in self.choices[:i]:
                if _same(name, a, b):
                    raise SpaceError(f"dimension {name!r}: choices={list(self.choices)!r} has duplicates: "
                                     f"{b!r} and {a!r} compare equal (duplicate choices)")

    def to_unit(self, value: Any) -> float:
        return (self.choices.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        return self.choices[min(int(float(u) * len(self.choices)), len(self.choices) - 1)]

    def sample(self, rng: np.random.Generator) -> Any:
        """One choice, uniformly; one ``rng.random()`` draw."""
        return self.from_unit(rng.random())

    def contains(self, value: Any) -> bool:
        return value in self.choices

    def grid(self, n: int) -> list[Any]:
        return list(self.choices)


Dimension = Union[Real, Integer, Categorical]


class Space(Mapping[str, Dimension]):
    """An ordered mapping of dimension names to dimensions.

    Parameters
    ----------
    dimensions
        ``{"lr": Real(1e-4, 1e-1, log=True), "width": Integer(16, 256), ...}``.

    Raises
    ------
    SpaceError
        If the space is empty or any dimension is ill-defined; the message names it.
    """

    def __init__(self, dimensions: Mapping[str, Dimension]) -> None:
        if not isinstance(dimensions, Mapping) or not dimensions:
            raise SpaceError(f"space: needs a non-empty mapping of name -> dimension, got {dimensions!r}")
        for name, dim in dimensions.items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"space: dimension name {name!r} must be a non-empty string")
            if not isinstance(dim, (Real, Integer, Categorical)):
                raise SpaceError(f"dimension {name!r}: {dim!r} is not a Real, Integer or Categorical")
            dim.validate(name)
        self._dims = dict(dimensions)
        self.order = conditions.order(self._dims)  # parents first; refuses unknown parents and cycles
        self.conditional = any(dim.when for dim in self._dims.values())

    def __getitem__(self, name: str) -> Dimension:
        return self._dims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def __repr__(self) -> str:
        return f"Space({self._dims!r})"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one configuration uniformly (log-uniformly on log dimensions); only active dimensions."""
        if self.conditional:
            return conditions.sample(self, rng)
        return {name: _plain(dim.sample(rng)) for name, dim in self._dims.items()}

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check a configuration against the space and return it as a plain dict.

        Raises
        ------
        SpaceError
            On unknown or missing names, or a value outside its dimension.
        """
        if not isinstance(config, Mapping):
            raise SpaceError(f"config: expected a mapping, got {config!r}")
        unknown = sorted(set(config) - set(self._dims))
        if unknown:
            raise SpaceError(f"config: unknown name(s) {unknown} (space has {list(self._dims)})")
        if self.conditional:
            return conditions.validate(self, config)
        missing = [n for n in self._dims if n not in config]
        if missing:
            raise SpaceError(f"config: missing name(s) {missing}")
        for name, dim in self._dims.items():
            if not dim.contains(config[name]):
                raise SpaceError(f"config: {name}={config[name]!r} is outside {dim!r}")
        return {name: _plain(config[name]) for name in self._dims}

    def to_unit(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a configuration to the unit cube (one coordinate per dimension; NaN for an inactive one)."""
        return np.array([dim.to_unit(config[name]) if name in config or not self.conditional else math.nan
                         for name, dim in self._dims.items()], dtype=float)

    def from_unit(self, u: np.ndarray) -> dict[str, Any]:
        """Map a point of the unit cube back to a configuration (clipped to the cube; inactive names dropped)."""
        config = {name: _plain(dim.from_unit(x)) for (name, dim), x in zip(self._dims.items(), u)
                  if x == x or not self.conditional}  # NaN: inactive (to_unit)
        return conditions.prune(self, config) if self.conditional else config

    def grid(self, points_per_dimension: int = 3) -> Iterator[dict[str, Any]]:
        """Enumerate the grid: every categorical choice, ``points_per_dimension`` on numeric axes (active ones)."""
        if points_per_dimension < 1:
            raise SpaceError(f"grid: points_per_dimension={points_per_dimension!r} must be >= 1")
        return conditions.grid(self, points_per_dimension)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, the inverse of :meth:`from_dict`."""
        out = {}
        for name, dim in self._dims.items():
            if isinstance(dim, Categorical):
                out[name] = {"type": "categorical", "choices": list(dim.choices)}
            else:
                out[name] = {"type": type(dim).__name__.lower(), "low": dim.low, "high": dim.high, "log": dim.log}
            if dim.when:
                out[name]["when"] = [c.to_list() for c in dim.when]
        return out

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping[str, Any]]) -> "Space":
        """Rebuild a space from :meth:`to_dict` output."""
        kinds = {"real": Real, "integer": Integer}
        dims: dict[str, Dimension] = {}
        for name, d in spec.items():
            if d.get("type") == "categorical":
                dims[name] = Categorical(d["choices"], d.get("when"))
            elif d.get("type") in kinds:
                dims[name] = kinds[d["type"]](d["low"], d["high"], d.get("log", False), d.get("when"))
            else:
                raise SpaceError(f"dimension {name!r}: unknown type {d.get('type')!r}")
        return cls(dims)


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars, so configs are JSON-able and compare equal."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _same(name: str, a: Any, b: Any) -> bool:
    """Whether two choices of dimension ``name`` are indistinguishable: equal, or one repr (two NaNs).

    Raises
    ------
    SpaceError
        If ``a == b`` has no truth value (numpy arrays), which ``choices.index`` needs too.
    """
    if a is b or repr(a) == repr(b):
        return True
    try:
        return bool(a == b)
    except Exception:  # e.g. numpy arrays: == is elementwise, and choices.index would fail too
        raise SpaceError(f"dimension {name!r}: choices {b!r} and {a!r} cannot be compared") from None
