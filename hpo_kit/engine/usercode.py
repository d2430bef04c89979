"""The user's own modules, packed by value for workers that cannot import them.

An objective in the user's module ``mytask`` (a file beside the notebook, not installed) pickles
*by reference*: "``mytask.objective``". Workers of an embedded LocalCluster share the driver's
path and import it; ``dask worker`` processes started elsewhere cannot, and every trial failed
with ``ModuleNotFoundError: No module named 'mytask'`` until the user called
``cloudpickle.register_pickle_by_value(mytask)``. :class:`~hpo_kit.engine.shipping.Shipper`
now does that itself, for one extra pickle only:

* **Which modules.** Every loaded module that is the user's: a ``.py`` file outside the standard
  library, site-packages and the interpreter's prefixes, other than hpo_kit; of those a pickle
  carries, the ones an installed distribution provides (an editable install: workers have it;
  ``importlib.metadata.packages_distributions``, read only then) are left by reference.
  ``__main__`` is by value already (cloudpickle's own rule).
* **When.** Only while the shipper pickles the objective and the data loader a second time,
  inside :func:`by_value` (a lock around cloudpickle's registry; a module the user registered
  stays registered). The first, by-reference pickle is what a worker loads; the by-value one
  is its fallback when that raises ``ImportError`` (:func:`~hpo_kit.engine.shipping._unship`).
  So nothing changes where the module is importable (a LocalCluster, an in-process cluster
  whose module globals tests share with the driver), and where it is not, the code travels.
* **What is journalled.** The modules the fallback carries (a ``code_shipped`` record), so a
  journal says which of the user's files its trials ran from.

Limits: a module's globals are copied as the run starts (as for a notebook's functions); a
global that cannot be pickled (a lock, an open file) leaves no fallback, nor does a fallback larger
than :data:`~hpo_kit.engine.shipping.FALLBACK_MAX` (module-level data: every step carries the
payload; a warning names the modules), and such a module must be installed on the workers as before.
"""
from __future__ import annotations

import contextlib
import functools
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Iterator

import cloudpickle

_LOCK = threading.Lock()  # cloudpickle's registry is one set per process


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    """The library folders, each as given and resolved (a module path is compared as given first: one
    ``realpath`` per loaded module cost the loop 0.3 s of ``stat`` calls at a study's first step)."""
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots |= {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    with contextlib.suppress(Exception):  # some embedded interpreters have no site-packages list
        roots |= set(site.getsitepackages())
    with contextlib.suppress(Exception):
        roots.add(site.getusersitepackages())
    roots = {r for r in roots if r}
    return tuple(sorted({os.path.join(os.path.abspath(r), "") for r in roots}
                        | {os.path.join(os.path.realpath(r), "") for r in roots}))


@functools.lru_cache(maxsize=1)
def _installed_tops() -> frozenset[str]:
    import importlib.metadata

    try:
        return frozenset(importlib.metadata.packages_distributions())
    except Exception:  # noqa: BLE001 - broken metadata of one distribution must not stop a study
        return frozenset()


def is_user_module(name: str, module: object) -> bool:
    """True for a module of the user's own code (see the module docstring)."""
    top = name.partition(".")[0]
    if top in ("__main__", "hpo_kit") or top in sys.stdlib_module_names:
        return False
    path = getattr(module, "__file__", None)
    if not isinstance(path, str) or not path.endswith(".py") or not os.path.isabs(path):
        return False  # builtins, extension modules, namespace packages, torch's "_ops.py" objects: no file
    roots = _library_roots()
    return not (os.path.abspath(path).startswith(roots) or os.path.realpath(path).startswith(roots))


def installed_of(names: set[str]) -> set[str]:
    """Those of ``names`` whose top-level package an installed distribution provides (an editable install
    lives outside site-packages). Asked only of modules a pickle carries: the first call reads every
    distribution's metadata (about 1 s per process), which the loop must not pay for every study."""
    tops = _installed_tops()
    return {name for name in names if name.partition(".")[0] in tops}


def user_modules() -> list[str]:
    """Names of the loaded modules that are the user's, sorted."""
    return sorted(name for name, module in list(sys.modules.items())
                  if module is not None and is_user_module(name, module))


@contextlib.contextmanager
def by_value(names: list[str]) -> Iterator[list[str]]:
    """Register ``names`` with cloudpickle to pickle by value; unregister on exit those it added.

    Yields the names registered here (not those the user registered before).
    """
    registry = cloudpickle.cloudpickle._PICKLE_BY_VALUE_MODULES
    with _LOCK:
        added = []
        for name in names:
            module = sys.modules.get(name)
            if module is None or name in registry:
                continue
            cloudpickle.register_pickle_by_value(module)
            added.append(name)
        try:
            yield added
        finally:
            for name in added:
                registry.discard(name)  # unregister_pickle_by_value raises if the module left sys.modules
