"""Conditional dimensions: a dimension active only when its parent(s) took given values (issue 25).

A dimension takes ``when=``; every condition must hold for it to be active (AND), and a
dimension whose parent is inactive is inactive too (nesting)::

    Space({"opt": Categorical(["sgd", "adam"]),
           "momentum": Real(0.0, 0.99, when=("opt", "sgd")),             # opt == "sgd"
           "n_layers": Integer(1, 4),
           "width_3": Integer(8, 64, when=("n_layers", ">=", 3)),         # a comparison
           "beta": Real(0.8, 0.99, when={"opt": ["adam"], "n_layers": [1, 2]})})  # sets, AND

Forms of ``when``: ``(parent, value)``; ``(parent, [values])``; ``(parent, op, value)`` with
``op`` one of ``in == != < <= > >=`` (comparisons need a Real or Integer parent); a mapping
``{parent: value or [values]}``; a list of these (AND); or :class:`Condition` objects. A tuple
that is itself one choice is written inside a list: ``("shape", [(3, 3)])``.

An inactive dimension is *absent* from a configuration: :meth:`Space.sample` never draws it,
:meth:`Space.grid` never enumerates it (no duplicate grid points that differ only in an
unused value), and :meth:`Space.validate` refuses a configuration that carries it (so a
journal holds exactly what the objective saw). Everything here walks the dimensions in
:func:`order` (parents first, otherwise declaration order), so a flat space is sampled and
enumerated exactly as before.
"""
from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # space.py imports this module; the import is for type hints only
    from .space import Dimension, Space

_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}
OPS = ("in", *_COMPARE)


def _error(message: str) -> ValueError:
    from .space import SpaceError  # late: space.py imports this module

    return SpaceError(message)


@dataclass(frozen=True)
class Condition:
    """``parent`` ``op`` ``value``: ``("opt", "in", ("sgd",))`` or ``("n_layers", ">=", 2)``."""

    parent: str
    op: str
    value: Any

    def holds(self, parent_value: Any) -> bool:
        """Whether the condition holds for the parent's value."""
        if self.op == "in":
            return parent_value in self.value
        return bool(_COMPARE[self.op](parent_value, self.value))

    def to_list(self) -> list[Any]:
        """``[parent, op, value]``, JSON-able (the journal's form; :func:`parse_when` reads it back)."""
        return [self.parent, self.op, list(self.value) if self.op == "in" else self.value]

    def __str__(self) -> str:
        return f"{self.parent} in {list(self.value)!r}" if self.op == "in" else f"{self.parent} {self.op} {self.value!r}"


class Conditional:
    """Mixin of the dimension types: ``when`` normalised to a tuple of conditions where the user wrote it."""

    when: tuple[Condition, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "when", parse_when(self.when))


def parse_when(when: Any) -> tuple[Condition, ...]:
    """Normalise a ``when=`` argument to a tuple of :class:`Condition` (all must hold).

    Raises
    ------
    SpaceError
        If ``when`` has none of the forms of the module docstring; the message quotes it.
    """
    if when is None or (isinstance(when, (tuple, list)) and not when):
        return ()
    if isinstance(when, Condition):
        return (when,)
    if isinstance(when, Mapping):
        return tuple(_one(when, (parent, values)) for parent, values in when.items())
    if isinstance(when, (tuple, list)) and when and isinstance(when[0], str):
        return (_one(when, when),)
    if isinstance(when, (tuple, list)) and when:  # several conditions, AND
        return tuple(c for part in when for c in parse_when(part))
    raise _error(f"when={when!r}: expected (parent, value), (parent, op, value), {{parent: values}} or a list "
                 "of these")


def _one(when: Any, part: Any) -> Condition:
    if isinstance(part, Condition):
        return part
    if not isinstance(part, (tuple, list)) or len(part) not in (2, 3) or not isinstance(part[0], str) \
            or not part[0]:
        raise _error(f"when={when!r}: {part!r} is not (parent, value) or (parent, op, value)")
    parent, op, value = (part[0], "in", part[1]) if len(part) == 2 else part
    if op not in OPS:
        raise _error(f"when={when!r}: op {op!r} is not one of {list(OPS)}")
    if op == "in":
        value = tuple(value) if isinstance(value, (tuple, list, set, frozenset)) else (value,)
        if not value:
            raise _error(f"when={when!r}: no values for parent {parent!r}")
    return Condition(parent, op, value)


def order(dims: Mapping[str, Dimension]) -> tuple[str, ...]:
    """The dimension names, parents before children, otherwise in declaration order (a flat space: as declared).

    Raises
    ------
    SpaceError
        If a condition names an unknown parent, a value its parent cannot take, a comparison on
        a categorical parent, or if the conditions form a cycle (the dimensions on it are named).
    """
    for name, dim in dims.items():
        for c in dim.when:
            _check_condition(dims, name, c)
    placed: list[str] = []
    left = list(dims)
    while left:
        ready = next((n for n in left if all(c.parent in placed for c in dims[n].when)), None)
        if ready is None:
            raise _error(f"space: conditions form a cycle among {left} "
                         f"({'; '.join(f'{n} when {c}' for n in left for c in dims[n].when)})")
        placed.append(ready)
        left.remove(ready)
    return tuple(placed)


def _check_condition(dims: Mapping[str, Dimension], name: str, c: Condition) -> None:
    from .space import Categorical, _is_number

    where = f"dimension {name!r}: when {c}"
    if c.parent == name:
        raise _error(f"{where}: a dimension cannot depend on itself (cycle)")
    if c.parent not in dims:
        raise _error(f"{where}: unknown parent {c.parent!r} (space has {list(dims)})")
    parent = dims[c.parent]
    if c.op == "in":
        bad = [v for v in c.value if not parent.contains(v)]
        if bad:
            raise _error(f"{where}: parent {c.parent!r} cannot take {bad!r} ({parent!r})")
    elif isinstance(parent, Categorical):
        raise _error(f"{where}: {c.op!r} needs a Real or Integer parent; {c.parent!r} is categorical "
                     "(list the choices instead)")
    elif not _is_number(c.value):
        raise _error(f"{where}: {c.value!r} is not a number")


def active(space: Space, name: str, config: Mapping[str, Any]) -> bool:
    """Whether ``name`` is active given the values in ``config`` (parents absent from it are inactive)."""
    return all(c.parent in config and c.holds(config[c.parent]) for c in space[name].when)


def inactive_reason(space: Space, name: str, config: Mapping[str, Any]) -> str:
    """Why ``name`` is inactive under ``config``: the first condition that fails, for error messages."""
    for c in space[name].when:
        if c.parent not in config:
            return f"its parent {c.parent!r} is inactive"
        if not c.holds(config[c.parent]):
            return f"it needs {c}, got {c.parent}={config[c.parent]!r}"
    return "it is active"


def prune(space: Space, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` without the dimensions inactive under it, in declaration order (missing names stay missing)."""
    kept: dict[str, Any] = {}
    for name in space.order:
        if name in values and active(space, name, kept):
            kept[name] = values[name]
    return {n: kept[n] for n in space if n in kept}


def sample(space: Space, rng: np.random.Generator) -> dict[str, Any]:
    """Parents first, then the children they activate; an inactive dimension draws nothing."""
    from .space import _plain

    out: dict[str, Any] = {}
    for name in space.order:
        if active(space, name, out):
            out[name] = _plain(space[name].sample(rng))
    return {n: out[n] for n in space if n in out}


def grid(space: Space, points_per_dimension: int) -> Iterator[dict[str, Any]]:
    """Every active combination once, in the order of ``itertools.product`` over :func:`order`."""
    from .space import _plain

    axes = {name: [_plain(v) for v in space[name].grid(points_per_dimension)] for name in space}

    def walk(i: int, partial: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if i == len(space.order):
            yield {n: partial[n] for n in space if n in partial}
            return
        name = space.order[i]
        if not active(space, name, partial):
            yield from walk(i + 1, partial)
            return
        for v in axes[name]:
            yield from walk(i + 1, {**partial, name: v})

    if not space.conditional:  # the flat product, unchanged
        names = list(space)
        for values in itertools.product(*(axes[n] for n in names)):
            yield dict(zip(names, values))
        return
    yield from walk(0, {})


def validate(space: Space, config: Mapping[str, Any]) -> dict[str, Any]:
    """:meth:`Space.validate` for a conditional space: active names required, inactive ones refused."""
    from .space import _plain

    out: dict[str, Any] = {}
    for name in space.order:
        if not active(space, name, out):
            if name in config:
                raise _error(f"config: {name}={config[name]!r} is given but {name!r} is inactive: "
                             f"{inactive_reason(space, name, out)}")
            continue
        if name not in config:
            raise _error(f"config: missing name(s) [{name!r}] (active: {' and '.join(map(str, space[name].when))})")
        if not space[name].contains(config[name]):
            raise _error(f"config: {name}={config[name]!r} is outside {space[name]!r}")
        out[name] = _plain(config[name])
    return {n: out[n] for n in space if n in out}
