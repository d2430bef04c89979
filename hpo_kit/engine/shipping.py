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
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

import cloudpickle

from .codefiles import code_files, restore_code_files

_LOADED: "OrderedDict[str, Any]" = OrderedDict()  # digest -> the object, on a worker
_LOADED_MAX = 16
_LOCK = threading.Lock()  # steps of several threads of one worker unpickle at once


class Shipper:
    """Pickles each object it is given once; its payloads unpickle to the object on any process."""

    def __init__(self) -> None:
        self._payloads: dict[int, tuple[Any, _Payload]] = {}  # id -> (object kept alive, payload)

    def ship(self, obj: Any) -> Any:
        """What a step's state carries in place of ``obj``: ``None`` stays ``None``."""
        if obj is None:
            return None
        held = self._payloads.get(id(obj))
        if held is None or held[0] is not obj:
            files = code_files(obj)
            blob = cloudpickle.dumps((obj, files))
            held = self._payloads[id(obj)] = (obj, _Payload(hashlib.blake2b(blob, digest_size=16).hexdigest(), blob))
        return held[1]


class _Payload:
    """Pickles as a call of :func:`_unship`: the object itself comes out on the other side."""

    __slots__ = ("digest", "blob")

    def __init__(self, digest: str, blob: bytes) -> None:
        self.digest, self.blob = digest, blob

    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        return _unship, (self.digest, self.blob)


def _unship(digest: str, blob: bytes) -> Any:
    """The object of a payload: unpickled the first time this process sees ``digest``, then reused."""
    with _LOCK:
        if digest in _LOADED:
            _LOADED.move_to_end(digest)
            return _LOADED[digest]
        obj, files = cloudpickle.loads(blob)
        restore_code_files(obj, files)
        _LOADED[digest] = obj
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
        return obj
