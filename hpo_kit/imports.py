"""Heavy third-party imports that several threads may make at once, made one at a time.

CPython can hand a thread a half-initialised module when two threads import a package with
internal cycles at the same moment (scikit-learn, via scikit-optimize on BO's warm-up thread
and via the panel's importance view on the caller's thread): "cannot import name 'clone' from
partially initialized module 'sklearn.base'". Every such import goes through :func:`heavy`.
"""
from __future__ import annotations

import importlib
import threading

_LOCK = threading.Lock()


def heavy(*modules: str) -> None:
    """Import ``modules`` (dotted names), one thread at a time."""
    with _LOCK:
        for name in modules:
            importlib.import_module(name)
