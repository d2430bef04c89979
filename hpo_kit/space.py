"""Search spaces: named real, integer and categorical dimensions.

A :class:`Space` validates its own definition (errors name the field and the value),
samples seeded configurations, enumerates grids, and maps configurations to and from
the unit cube. The unit-cube map is what the neighbourhood sampler of Hypersearch and
the BO adapter build on, so every dimension type defines "near" in one place.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Union

import numpy as np


class SpaceError(ValueError):
    """A search space or a configuration is invalid; the message names the field."""


def _check_bounds(name: str, low: float, high: float, log: bool) -> None:
    for label, value in (("low", low), ("high", high)):
        if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
            raise SpaceError(f"dimension {name!r}: {label}={value!r} is not a number")
        if not math.isfinite(value):
            raise SpaceError(f"dimension {name!r}: {label}={value!r} is not finite")
    if not low < high:
        raise SpaceError(f"dimension {name!r}: low={low!r} must be < high={high!r}")
    if log and low <= 0:
        raise SpaceError(f"dimension {name!r}: log scale needs low > 0, got low={low!r}")


@dataclass(frozen=True)
class Real:
    """A real-valued dimension on ``[low, high]``, linear or log scale."""

    low: float
    high: float
    log: bool = False

    def validate(self, name: str) -> None:
        _check_bounds(name, self.low, self.high, self.log)

    def to_unit(self, value: Any) -> float:
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = float(u)
        if u <= 0.0 or u >= 1.0:  # exact bounds, not exp(log(bound))
            return float(self.low if u <= 0.0 else self.high)
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return float(min(max(value, self.low), self.high))  # rounding must not leave the interval

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, float, np.number)) and self.low <= value <= self.high

    def grid(self, n: int) -> list[float]:
        return [self.from_unit(u) for u in np.linspace(0.0, 1.0, n)]


@dataclass(frozen=True)
class Integer:
    """An integer dimension on ``[low, high]`` (both included), linear or log scale."""

    low: int
    high: int
    log: bool = False

    def validate(self, name: str) -> None:
        for label, value in (("low", self.low), ("high", self.high)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise SpaceError(f"dimension {name!r}: {label}={value!r} is not an integer")
        _check_bounds(name, self.low, self.high, self.log)

    def to_unit(self, value: Any) -> float:
        return self._cells().to_unit(value)

    def from_unit(self, u: float) -> int:
        return int(min(max(round(self._cells().from_unit(u)), self.low), self.high))

    def _cells(self) -> Real:
        # Each integer owns a cell of equal width on the (log) axis, so "near" means near cells
        # and uniform sampling gives every integer its fair share (low >= 1 on log scale).
        return Real(self.low - 0.4999, self.high + 0.4999, self.log)

    def contains(self, value: Any) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and self.low <= value <= self.high

    def grid(self, n: int) -> list[int]:
        return sorted({self.from_unit(u) for u in np.linspace(0.0, 1.0, n)})


@dataclass(frozen=True)
class Categorical:
    """A categorical dimension over a non-empty tuple of choices (order is kept)."""

    choices: tuple

    def __init__(self, choices: Any) -> None:
        object.__setattr__(self, "choices", tuple(choices) if isinstance(choices, (list, tuple)) else choices)

    def validate(self, name: str) -> None:
        if not isinstance(self.choices, tuple):
            raise SpaceError(f"dimension {name!r}: choices={self.choices!r} must be a list or tuple")
        if len(self.choices) == 0:
            raise SpaceError(f"dimension {name!r}: choices is empty")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise SpaceError(f"dimension {name!r}: choices={list(self.choices)!r} has duplicates")

    def to_unit(self, value: Any) -> float:
        return (self.choices.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        return self.choices[min(int(float(u) * len(self.choices)), len(self.choices) - 1)]

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

    def __getitem__(self, name: str) -> Dimension:
        return self._dims[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def __repr__(self) -> str:
        return f"Space({self._dims!r})"

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one configuration uniformly (log-uniformly on log dimensions)."""
        return {name: dim.from_unit(rng.random()) for name, dim in self._dims.items()}

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
        missing = [n for n in self._dims if n not in config]
        if missing:
            raise SpaceError(f"config: missing name(s) {missing}")
        for name, dim in self._dims.items():
            if not dim.contains(config[name]):
                raise SpaceError(f"config: {name}={config[name]!r} is outside {dim!r}")
        return {name: _plain(config[name]) for name in self._dims}

    def to_unit(self, config: Mapping[str, Any]) -> np.ndarray:
        """Map a configuration to the unit cube (one coordinate per dimension)."""
        return np.array([dim.to_unit(config[name]) for name, dim in self._dims.items()], dtype=float)

    def from_unit(self, u: np.ndarray) -> dict[str, Any]:
        """Map a point of the unit cube back to a configuration (clipped to the cube)."""
        return {name: _plain(dim.from_unit(x)) for (name, dim), x in zip(self._dims.items(), u)}

    def grid(self, points_per_dimension: int = 3) -> Iterator[dict[str, Any]]:
        """Enumerate the full grid: every categorical choice, ``points_per_dimension`` on numeric axes."""
        if points_per_dimension < 1:
            raise SpaceError(f"grid: points_per_dimension={points_per_dimension!r} must be >= 1")
        axes = [dim.grid(points_per_dimension) for dim in self._dims.values()]
        for values in itertools.product(*axes):
            yield {name: _plain(v) for name, v in zip(self._dims, values)}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able description, the inverse of :meth:`from_dict`."""
        out = {}
        for name, dim in self._dims.items():
            if isinstance(dim, Categorical):
                out[name] = {"type": "categorical", "choices": list(dim.choices)}
            else:
                out[name] = {"type": type(dim).__name__.lower(), "low": dim.low, "high": dim.high, "log": dim.log}
        return out

    @classmethod
    def from_dict(cls, spec: Mapping[str, Mapping[str, Any]]) -> "Space":
        """Rebuild a space from :meth:`to_dict` output."""
        kinds = {"real": Real, "integer": Integer}
        dims: dict[str, Dimension] = {}
        for name, d in spec.items():
            if d.get("type") == "categorical":
                dims[name] = Categorical(d["choices"])
            elif d.get("type") in kinds:
                dims[name] = kinds[d["type"]](d["low"], d["high"], d.get("log", False))
            else:
                raise SpaceError(f"dimension {name!r}: unknown type {d.get('type')!r}")
        return cls(dims)


def _plain(value: Any) -> Any:
    """numpy scalars to Python scalars, so configs are JSON-able and compare equal."""
    if isinstance(value, np.generic):
        return value.item()
    return value
