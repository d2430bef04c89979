"""Checkpoint store for trial state, on any fsspec file system.

A local directory by default; any fsspec URL (``s3://``, ``gcs://``, a shared mount)
that remote workers reach for real clusters. State leaves worker memory at every
checkpoint, so waiting trials hold no worker or GPU memory. Writes are atomic
(write to a temporary name, then move) so a worker killed mid-write leaves the
previous checkpoint intact.
"""
from __future__ import annotations

import io
import os
import re
import uuid
from typing import Any

import fsspec

_NAME = re.compile(r"epoch-(\d+)\.pt$")
_FORMAT = "hpo_kit_checkpoint"


class CheckpointStore:
    """Trial state by ``(trial_id, epoch)``, keeping the ``keep`` latest per trial.

    Parameters
    ----------
    url
        Directory or fsspec URL.
    keep
        How many checkpoints per trial to keep (older ones are deleted).
    """

    def __init__(self, url: str, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError(f"CheckpointStore: keep={keep!r} must be >= 1")
        self.url = str(url)
        self.keep = keep
        self._fs: Any = None
        self._root = ""

    def __getstate__(self) -> dict:
        return {"url": self.url, "keep": self.keep}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"], state["keep"])

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

    def save(self, trial_id: int, epoch: int, state: Any, report: dict[str, float] | None = None) -> str:
        """Serialise ``state`` (torch.save format) as the trial's checkpoint at ``epoch``.

        ``report`` (the epoch's metrics) travels with the state, so a step resumed from
        this checkpoint can resend a report that a crash cut off.
        """
        import torch

        buf = io.BytesIO()
        torch.save({_FORMAT: 1, "state": state, "report": report}, buf)
        d = self._dir(trial_id)
        self.fs.makedirs(d, exist_ok=True)
        final = f"{d}/epoch-{int(epoch)}.pt"
        tmp = f"{d}/.tmp-{uuid.uuid4().hex}"
        with self.fs.open(tmp, "wb") as f:
            f.write(buf.getvalue())
        self.fs.mv(tmp, final)
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
        """Load ``(epoch, state, report)``; ``report`` is the epoch's metrics, if saved."""
        import torch

        epoch = self.latest(trial_id) if epoch is None else epoch
        if epoch is None:
            raise FileNotFoundError(f"no checkpoint for trial {trial_id} in {self.url}")
        with self.fs.open(f"{self._dir(trial_id)}/epoch-{int(epoch)}.pt", "rb") as f:
            data = f.read()
        payload = torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)
        if isinstance(payload, dict) and payload.get(_FORMAT) == 1:
            return epoch, payload["state"], payload["report"]
        return epoch, payload, None


def default_store(journal_path: str | os.PathLike) -> CheckpointStore:
    """The store beside a journal: ``<journal>.ckpt/``."""
    return CheckpointStore(os.fspath(journal_path) + ".ckpt")
