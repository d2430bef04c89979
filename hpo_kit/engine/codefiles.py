"""Where a trial's code came from, so tracebacks name the user's file and line.

cloudpickle ships functions and classes of ``__main__`` (a script, a notebook) by value and
renames their code's file to "<dynamic-code>"; see :func:`code_files` and :func:`restore_code_files`.
"""
from __future__ import annotations

import functools
import sys
import types
import weakref
from typing import Any

# renames their code's file to "<dynamic-code>", so a trial's traceback would not say where the
# user's code is. A step spec therefore carries the original file of each code object it ships
# (keyed by qualified name and first line, which cloudpickle keeps), and the worker puts the
# names back before the objective runs; linecache then shows the source lines too where the
# file exists on the worker (a LocalCluster, a shared file system).
_DYNAMIC = "<dynamic-code>"
_MAX_FUNCTIONS = 500
_code_files_cache: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _code_key(code: types.CodeType) -> tuple[str, int]:
    return getattr(code, "co_qualname", code.co_name), code.co_firstlineno


def _nested_codes(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _nested_codes(const)


def _shipped_functions(obj: Any) -> list[types.FunctionType]:
    """Functions reachable from ``obj`` in its own module: what cloudpickle ships with it by value."""
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", None)
    out: list[types.FunctionType] = []
    seen: set[int] = set()
    stack = [obj]
    while stack and len(out) < _MAX_FUNCTIONS:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, functools.partial):
            stack.append(o.func)
        elif isinstance(o, (types.MethodType, staticmethod, classmethod)):
            stack.append(o.__func__)
        elif isinstance(o, property):
            stack.extend(f for f in (o.fget, o.fset, o.fdel) if f is not None)
        elif isinstance(o, types.FunctionType):
            if o.__module__ != module:
                continue
            out.append(o)
            names = {n for c in _nested_codes(o.__code__) for n in c.co_names}
            stack.extend(o.__globals__[n] for n in names if n in o.__globals__)
            for cell in o.__closure__ or ():
                try:
                    stack.append(cell.cell_contents)
                except ValueError:  # an empty cell
                    pass
        elif isinstance(o, type):
            if o.__module__ == module:
                stack.extend(vars(o).values())
                stack.extend(o.__bases__)
        elif o is obj and callable(o):  # a callable instance: its class's methods
            stack.append(type(o))
    return out


def _by_value(obj: Any) -> bool:
    """True if cloudpickle ships ``obj`` by value: what its own rule says, for functions and classes.

    By value: code of ``__main__`` (a script, a notebook), of a module registered with
    ``cloudpickle.register_pickle_by_value``, and anything not reachable by module and qualified
    name (lambdas, functions defined inside functions).
    """
    if isinstance(obj, functools.partial):
        return _by_value(obj.func)
    if not isinstance(obj, (types.FunctionType, type)):
        obj = type(obj)  # a callable instance: its class
    module = getattr(obj, "__module__", None)
    if module in (None, "__main__", "__mp_main__") or module not in sys.modules:
        return True
    try:
        import cloudpickle

        if module in cloudpickle.list_registry_pickle_by_value():
            return True
    except Exception:  # noqa: BLE001 - an old cloudpickle without the registry
        pass
    found: Any = sys.modules[module]
    for part in getattr(obj, "__qualname__", "<locals>").split("."):
        found = getattr(found, part, None)
    return found is not obj


def code_files(obj: Any) -> dict[tuple[str, int], str] | None:
    """``{(qualname, first line): file}`` of the code shipped by value with ``obj`` (``None``: by reference)."""
    try:
        return _code_files_cache[obj]
    except (KeyError, TypeError):
        pass
    files: dict[tuple[str, int], str] | None = None
    try:
        if _by_value(obj):
            files = {_code_key(c): c.co_filename for fn in _shipped_functions(obj)
                     for c in _nested_codes(fn.__code__) if c.co_filename != _DYNAMIC}
    except Exception:  # noqa: BLE001 - a traceback hint must never stop a step from being sent
        files = None
    try:
        _code_files_cache[obj] = files
    except TypeError:  # not weak-referenceable
        pass
    return files or None


def _renamed(code: types.CodeType, files: dict[tuple[str, int], str]) -> types.CodeType:
    consts = tuple(_renamed(c, files) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    name = files.get(_code_key(code)) if code.co_filename == _DYNAMIC else None
    if name is None and all(a is b for a, b in zip(consts, code.co_consts)):
        return code
    return code.replace(co_filename=name or code.co_filename, co_consts=consts)


def restore_code_files(obj: Any, files: dict[tuple[str, int], str] | None) -> None:
    """Give the functions shipped with ``obj`` their original file names back (see :func:`code_files`)."""
    if not files:
        return
    try:
        for fn in _shipped_functions(obj):
            fn.__code__ = _renamed(fn.__code__, files)
    except Exception:  # noqa: BLE001 - tracebacks then say "<dynamic-code>", nothing worse
        pass
