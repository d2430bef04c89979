"""A study's objective and data loader: pickled once per run on the driver, loaded once per worker process.

Dask pickles a task's arguments at every submit, and cloudpickle ships a script's or a
notebook's function *by value*, with every global it reads (a lookup table, an array): every
step paid for that twice, pickling on the driver and unpickling on its worker. A
:class:`Shipper` (one per run of a study) pickles each object once and every step carries
those bytes; a worker process unpickles a given payload once (:func:`_unship`, keyed by its
digest) and hands later steps the same object, so its original code file names
(:mod:`.codefiles`) are restored once too.

One shipper per run, not one per process: an object is pickled with the globals it sees when
the run starts, so a notebook that changes a global and runs a new study ships the new value
(a new payload, a new digest). Hand-written rather than ``Client.scatter``: a scattered future
pins the object in one worker's memory and a lost worker loses it; bytes inside each task
cost a few kilobytes and survive anything.

A payload of code from the user's own modules carries a second pickle of the same objects, with
those modules by value (:mod:`.usercode`): a worker that cannot import them (``dask worker``
processes started elsewhere) loads that one instead.
"""
from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from typing import Any

import cloudpickle

from .codefiles import code_files, restore_code_files
from .usercode import by_value, installed_of, user_modules

_LOADED: "OrderedDict[str, Any]" = OrderedDict()  # digest -> the object, on a worker
_LOADED_MAX = 16
_LOCK = threading.Lock()  # steps of several threads of one worker unpickle at once
#: Largest by-value fallback a payload carries (bytes); a larger one is dropped with a warning.
FALLBACK_MAX = 8 * 2**20


class Shipper:
    """Pickles each object it is given once; its payloads unpickle to the object on any process."""

    def __init__(self) -> None:
        self._payloads: dict[int, tuple[Any, _Payload]] = {}  # id -> (object kept alive, payload)
        #: The user's modules that some payload's fallback carries by value.
        self.modules: set[str] = set()
        self._told: set[str] = set()  # those :meth:`prepare` returned already

    def ship(self, obj: Any) -> Any:
        """What a step's state carries in place of ``obj``: ``None`` stays ``None``."""
        if obj is None:
            return None
        held = self._payloads.get(id(obj))
        if held is None or held[0] is not obj:
            files = code_files(obj)
            blob = cloudpickle.dumps((obj, files))
            fallback = self._by_value(obj, blob)
            digest = hashlib.blake2b(blob + (fallback or b""), digest_size=16).hexdigest()
            held = self._payloads[id(obj)] = (obj, _Payload(digest, blob, fallback))
        return held[1]

    def prepare(self, *objs: Any) -> list[str]:
        """Pickle ``objs`` now (once; before a step is submitted); the user's modules packed by value that no
        earlier call returned (the driver journals them as ``code_shipped``)."""
        try:
            for obj in objs:
                self.ship(obj)
        except Exception:  # noqa: BLE001 - the step's submit meets it again and fails its trial with it named
            return []
        new = sorted(self.modules - self._told)
        self._told.update(new)
        return new

    def _by_value(self, obj: Any, blob: bytes) -> bytes | None:
        """``obj`` pickled with the user's modules by value; ``None`` when it holds none of their code."""
        fallback, carried = _pickled_by_value(obj, user_modules())
        if fallback is None or fallback == blob or not carried:
            return None
        installed = installed_of(carried)  # read only now: the distributions' metadata costs about a second
        if installed:  # an editable install lives outside site-packages, but workers have it too
            fallback, carried = _pickled_by_value(obj, [n for n in user_modules() if n not in installed])
            if fallback is None or fallback == blob or not carried:
                return None
        if len(fallback) > FALLBACK_MAX:  # every step carries it: a module-level data set must not travel so
            warnings.warn(f"the objective's own modules {sorted(carried)} pickle to {len(fallback) / 2**20:.0f} MiB "
                          f"by value (module-level data?), more than hpo_kit sends with each step: they are sent by "
                          f"name only, so workers must import them (install them there, or load data in "
                          f"Study(data=...))", RuntimeWarning, stacklevel=2)
            return None
        self.modules |= carried
        return fallback


def _pickled_by_value(obj: Any, names: list[str]) -> tuple[bytes | None, set[str]]:
    """``obj`` pickled with ``names`` by value, and those of them the pickle carries (``None``: nothing to carry)."""
    try:
        with by_value(names) as added:
            if not added:
                return None, set()
            fallback = cloudpickle.dumps((obj, code_files(obj)))  # code_files: their files too
    except Exception:  # noqa: BLE001 - an unpicklable module global: workers must import the module, as before
        return None, set()
    return fallback, {name for name in added if name.encode() in fallback}  # a by-value function names its module


class _Payload:
    """Pickles as a call of :func:`_unship`: the object itself comes out on the other side."""

    __slots__ = ("digest", "blob", "fallback")

    def __init__(self, digest: str, blob: bytes, fallback: bytes | None = None) -> None:
        self.digest, self.blob, self.fallback = digest, blob, fallback

    def __reduce__(self) -> tuple[Any, tuple[str, bytes, bytes | None]]:
        return _unship, (self.digest, self.blob, self.fallback)


def _unship(digest: str, blob: bytes, fallback: bytes | None = None) -> Any:
    """The object of a payload: unpickled the first time this process sees ``digest``, then reused.

    ``fallback`` (the user's modules by value) is loaded only where ``blob`` cannot import them.
    """
    with _LOCK:
        if digest in _LOADED:
            _LOADED.move_to_end(digest)
            return _LOADED[digest]
        try:
            obj, files = cloudpickle.loads(blob)
        except ImportError:
            if fallback is None:
                raise
            obj, files = cloudpickle.loads(fallback)
        restore_code_files(obj, files)
        _LOADED[digest] = obj
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
        return obj
