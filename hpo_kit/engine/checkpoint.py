"""Checkpoint store for trial state, on any fsspec file system.

A local directory by default; any fsspec URL (``s3://``, ``gcs://``, a shared mount)
that remote workers reach for real clusters. A trial waiting at a rung may also stay alive on
its worker (:mod:`.kept`, the Study's ``keep_paused``; 0 makes waiting trials hold no worker or
GPU memory); its checkpoint is in the store all the same, written in the background
(:mod:`.writer`). Writes are atomic
(write to a temporary name, then move) so a worker killed mid-write leaves the
previous checkpoint intact. On a local file system the temporary file is also fsynced
before it is renamed into place (and the directory after), so a machine crash leaves
either the old checkpoint or the complete new one, never an empty or partial file.

Each checkpoint may carry the ``attempt`` of the trial that wrote it (see
:meth:`CheckpointStore.load_payload`), so a resumed step can tell its own checkpoints
from those of an earlier, abandoned attempt.

Weights-only by default (``weights_only=True``): checkpoints load with
``torch.load(..., weights_only=True)``, which refuses arbitrary pickled objects, so a
checkpoint file cannot run code. The saved state (and report) must then hold only tensors,
containers and primitives (a ``state_dict`` of a torch model and optimizer does); the
first save of each store object checks that the state loads back weights-only, so a state
that does not fails at its first checkpoint, with an error naming ``weights_only=False``
(the trusting mode, for states that keep other objects), not at a later resume.
"""
from __future__ import annotations

import io
import os
import pickle
import re
import uuid
from collections.abc import Callable
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

from . import faults
from ..errors import disk_full

_NAME = re.compile(r"epoch-(\d+)\.pt$")
_FORMAT = "hpo_kit_checkpoint"


class NotWeightsOnly(pickle.UnpicklingError):
    """A checkpoint's state holds objects that ``torch.load(weights_only=True)`` refuses."""


class StateNotSaved(TypeError):
    """A trial's state (its Trainable's ``state_dict()``) holds an object that cannot be saved."""


def _unpicklable(value: Any, path: str, seen: set[int]) -> tuple[str, Any] | None:
    """The first ``(path, object)`` inside ``value`` that pickle refuses (containers are searched, not pickled)."""
    if id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, dict):
        items: Any = ((f"{path}[{k!r}]", v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001 - any refusal is the one looked for
            return path, value
        return None
    for where, item in items:
        found = _unpicklable(item, where, seen)
        if found is not None:
            return found
    return None


def _state_not_saved(state: Any, exc: BaseException) -> StateNotSaved:
    # pickle names only the type it refused; the key path is what the user can find in their state_dict().
    found = _unpicklable(state, "state_dict()", set())
    what = "state_dict() holds an object pickle refuses"
    if found is not None:
        kind = type(found[1])
        what = f"{found[0]} is a {kind.__module__}.{kind.__qualname__}"
    return StateNotSaved(f"the Trainable's state cannot be checkpointed: {what} ({type(exc).__name__}: "
                         f"{exc}); state_dict() must hold only tensors, containers and numbers: create locks, files, "
                         f"clients and generators in setup(), outside the state")


def _not_weights_only(what: str, exc: BaseException) -> NotWeightsOnly:
    # torch's message is a page of advice; the line that says which object was refused is the reason.
    lines = [ln.strip() for ln in re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).splitlines() if ln.strip()]
    named = [ln.split("error:", 1)[-1].strip() for ln in lines if "WeightsUnpickler error" in ln]
    reason = (named or lines or [type(exc).__name__])[0].split(" was not an allowed global")[0]
    return NotWeightsOnly(f"{what} holds objects that weights-only loading refuses ({reason}); keep only tensors, "
                          f"containers and numbers in the state, or, for files you trust, pass "
                          f"checkpoints=CheckpointStore(url, weights_only=False) (README, Trust)")


class CheckpointStore:
    """Trial state by ``(trial_id, epoch)``, keeping the ``keep`` latest per trial.

    Parameters
    ----------
    url
        Directory or fsspec URL.
    keep
        How many checkpoints per trial to keep (older ones are deleted).
    weights_only
        Load with ``torch.load(..., weights_only=True)`` (the default): only tensors,
        containers and primitives are unpickled, never arbitrary objects (safe for untrusted
        files). ``False`` unpickles anything: only for states that need it, from files you trust.
    """

    def __init__(self, url: str, keep: int = 2, weights_only: bool = True) -> None:
        if keep < 1:
            raise ValueError(f"CheckpointStore: keep={keep!r} must be >= 1")
        if not isinstance(weights_only, bool):
            raise TypeError(f"CheckpointStore: weights_only={weights_only!r} must be True or False")
        self.url = str(url)
        self.keep = keep
        self.weights_only = weights_only
        self._fs: Any = None
        self._root = ""
        self._checked = False  # a save was loaded back weights-only (once per store object: per step)

    def __getstate__(self) -> dict:
        return {"url": self.url, "keep": self.keep, "weights_only": self.weights_only}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"], state["keep"], state.get("weights_only", False))  # older pickles: their default

    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs, self._root = fsspec.core.url_to_fs(self.url)
            self._fs.makedirs(self._root, exist_ok=True)
        return self._fs

    def _dir(self, trial_id: int) -> str:
        self.fs  # noqa: B018 - resolves _root
        return f"{self._root.rstrip('/')}/trial-{int(trial_id)}"

    def epochs(self, trial_id: int) -> list[int]:
        """Epochs with a checkpoint for this trial, ascending."""
        d = self._dir(trial_id)
        if not self.fs.exists(d):
            return []
        found = (_NAME.search(p) for p in self.fs.ls(d, detail=False))
        return sorted(int(m.group(1)) for m in found if m)

    def save(self, trial_id: int, epoch: int, state: Any, report: dict[str, float] | None = None,
             attempt: int | None = None) -> str:
        """Serialise ``state`` (torch.save format) as the trial's checkpoint at ``epoch``.

        Parameters
        ----------
        trial_id, epoch
            Which checkpoint this is.
        state
            The trial's state (e.g. a ``state_dict``).
        report
            The epoch's metrics; they travel with the state, so a step resumed from this
            checkpoint can resend a report that a crash cut off.
        attempt
            The attempt of the trial that wrote it, returned by :meth:`load_payload`.

        Returns
        -------
        str
            The checkpoint's path in the store's file system.

        Raises
        ------
        NotWeightsOnly
            With ``weights_only=True`` (checked at the store object's first save), if the
            state would not load back weights-only; the message names ``weights_only=False``.
        """
        return self.write(trial_id, epoch, self.encode(trial_id, state, report, attempt))

    def encode(self, trial_id: int, state: Any, report: dict[str, float] | None = None,
               attempt: int | None = None) -> bytes:
        """The checkpoint's bytes (the first half of :meth:`save`): a copy, so training may go on.

        Raises
        ------
        NotWeightsOnly
            As :meth:`save`.
        StateNotSaved
            If pickle refuses an object in ``state``; the message names its key path in ``state_dict()``.
        """
        import torch

        if attempt is not None and (not isinstance(attempt, int) or isinstance(attempt, bool)):
            raise TypeError(f"CheckpointStore.save: attempt={attempt!r} must be an int or None")
        buf = io.BytesIO()
        try:
            torch.save({_FORMAT: 1, "state": state, "report": report, "attempt": attempt}, buf)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:  # a lock, a local function, a generator
            raise _state_not_saved(state, exc) from exc
        if self.weights_only and not self._checked:  # a state it could not load must fail now, named
            try:
                torch.load(io.BytesIO(buf.getvalue()), map_location="cpu", weights_only=True)
            except pickle.UnpicklingError as exc:
                raise _not_weights_only(f"trial {trial_id}'s checkpoint state", exc) from None
            self._checked = True
        return buf.getvalue()

    def write(self, trial_id: int, epoch: int, data: bytes) -> str:
        """Store :meth:`encode`'s bytes as the trial's checkpoint at ``epoch`` (the second half of :meth:`save`).

        Raises
        ------
        DiskFull
            If the store's disk is full (:class:`~hpo_kit.errors.DiskFull`, naming the checkpoint's path);
            the previous checkpoint stays as it was.
        """
        d = self._dir(trial_id)
        final = f"{d}/epoch-{int(epoch)}.pt"
        tmp = f"{d}/.tmp-{uuid.uuid4().hex}"
        try:
            faults.disk_write("checkpoint-full", final)
            self.fs.makedirs(d, exist_ok=True)
            if isinstance(self.fs, LocalFileSystem):
                _write_local(tmp, final, data)
            else:
                try:
                    with self.fs.open(tmp, "wb") as f:
                        f.write(data)
                    self.fs.mv(tmp, final)
                except BaseException:
                    _discard(lambda: self.fs.rm(tmp))
                    raise
        except OSError as exc:
            full = disk_full(exc, f"trial {int(trial_id)}'s checkpoint", final)
            if full is None:
                raise
            raise full from exc
        for old in self.epochs(trial_id)[: -self.keep]:
            self.fs.rm(f"{d}/epoch-{old}.pt")
        return final

    def latest(self, trial_id: int) -> int | None:
        """The latest checkpointed epoch of a trial, or ``None``."""
        eps = self.epochs(trial_id)
        return eps[-1] if eps else None

    def load(self, trial_id: int, epoch: int | None = None, map_location: Any = "cpu") -> tuple[int, Any]:
        """Load ``(epoch, state)``: the given epoch, or the latest.

        Raises
        ------
        FileNotFoundError
            If the trial has no such checkpoint.
        """

        epoch, state, _ = self.load_record(trial_id, epoch, map_location)
        return epoch, state

    def load_record(self, trial_id: int, epoch: int | None = None,
                    map_location: Any = "cpu") -> tuple[int, Any, dict[str, float] | None]:
        """Load ``(epoch, state, report)``; ``report`` is the epoch's metrics, if saved.

        Raises
        ------
        FileNotFoundError
            If the trial has no such checkpoint.
        NotWeightsOnly
            With ``weights_only=True``, if the file holds objects that mode refuses (a
            ``pickle.UnpicklingError``, naming ``weights_only=False``).
        """
        p = self.load_payload(trial_id, epoch, map_location)
        return p["epoch"], p["state"], p["report"]

    def load_payload(self, trial_id: int, epoch: int | None = None,
                     map_location: Any = "cpu") -> dict[str, Any]:
        """Load a checkpoint with everything saved with it.

        Returns
        -------
        dict
            ``{"epoch", "state", "report", "attempt"}``; ``report`` and ``attempt`` are
            ``None`` where they were not saved (``attempt`` in older checkpoints).

        Raises
        ------
        FileNotFoundError
            If the trial has no such checkpoint.
        NotWeightsOnly
            With ``weights_only=True``, if the file holds objects that mode refuses (a
            ``pickle.UnpicklingError``, naming ``weights_only=False``).
        """
        import torch

        epoch = self.latest(trial_id) if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint for trial {trial_id} in {self.url}")
        with self.fs.open(f"{self._dir(trial_id)}/epoch-{int(epoch)}.pt", "rb") as f:
            data = f.read()
        try:
            payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=self.weights_only)
        except pickle.UnpicklingError as exc:
            if not self.weights_only:
                raise
            raise _not_weights_only(f"checkpoint {self.url}/trial-{int(trial_id)}/epoch-{int(epoch)}.pt", exc) \
                from None
        if isinstance(payload, dict) and payload.get(_FORMAT) == 1:
            return {"epoch": epoch, "state": payload["state"], "report": payload["report"],
                    "attempt": payload.get("attempt")}
        return {"epoch": epoch, "state": payload, "report": None, "attempt": None}


def _write_local(tmp: str, final: str, data: bytes) -> None:
    """Write ``data`` to ``tmp``, fsync it, rename it to ``final``, fsync the directory."""
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        _discard(lambda: os.remove(tmp))
        raise
    try:
        fd = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
    except OSError:  # Windows cannot open a directory; its renames need no directory fsync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on directories; the rename itself is done
    finally:
        os.close(fd)


def _discard(remove: Callable[[], object]) -> None:
    """Best-effort cleanup of a temporary file after a failed write."""
    try:
        remove()
    except OSError:
        pass


def default_store(journal_path: str | os.PathLike, weights_only: bool = True) -> CheckpointStore:
    """The store beside a journal: ``<journal>.ckpt/``."""
    return CheckpointStore(os.fspath(journal_path) + ".ckpt", weights_only=weights_only)
