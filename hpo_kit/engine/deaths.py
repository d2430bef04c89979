"""Why a worker died, in words: Dask's memory monitor, or the exit status of the worker process.

Dask reports a step whose worker died as ``KilledWorker`` ("all those workers died while
running it"), which loses the cause. Two scheduler event topics keep it:

* ``worker-restart-memory``: logged by every nanny (Dask's memory monitor) just before it
  terminates a worker that went over ``distributed.worker.memory.terminate`` of its
  ``memory_limit``;
* ``hpo-kit-worker-exit``: logged by a nanny that preloads this module when its worker
  process exits, with the exit status, the memory limit and the keys of the steps that were
  *running* (each worker process keeps the keys of its running steps in a file of a folder
  its nanny gives it), so a step that was only queued on the dead worker is told apart from
  the one that killed it.
  The embedded cluster preloads it; elsewhere start workers with
  ``dask worker ADDRESS --preload-nanny hpo_kit.engine.deaths``.

The events travel apart from the step's error (a nanny's own connection to the scheduler),
so :func:`death_cause` waits a little for them: at most ``wait`` seconds, and only when a
step was lost, which is rare.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..errors import WorkerDied, WorkerOutOfMemory

MEMORY_TOPIC = "worker-restart-memory"  # distributed.worker_memory.NannyMemoryManager.memory_monitor
EXIT_TOPIC = "hpo-kit-worker-exit"
HOOKED_TOPIC = "hpo-kit-nanny"  # one event per nanny that preloads this module: its exits are reported
STEPS_ENV = "HPO_KIT_STEPS_DIR"  # the folder where a worker's running steps mark themselves


class _Marks:
    """This worker process's running steps, in one file of the nanny's folder rewritten in place.

    One ``pwrite`` per change (the keys, then a NUL): a file created and removed per step cost
    ~0.6 ms of each step on an overlay file system, more than the rest of the step's own work.
    """

    def __init__(self, folder: str) -> None:
        self._keys: list[str] = []
        self._lock = threading.Lock()  # a worker with several threads runs several steps
        self._fd = os.open(os.path.join(folder, str(os.getpid())), os.O_RDWR | os.O_CREAT, 0o600)

    def change(self, add: str | None = None, drop: str | None = None) -> None:
        with self._lock:
            if add is not None:
                self._keys.append(add)
            if drop is not None and drop in self._keys:
                self._keys.remove(drop)
            os.pwrite(self._fd, ("\n".join(self._keys) + "\0").encode(), 0)


_MARKS: dict[str, _Marks] = {}


@contextlib.contextmanager
def running(key: str | None) -> Iterator[None]:
    """On a worker: mark the step ``key`` as running while the block runs (for the nanny's exit event)."""
    folder = os.environ.get(STEPS_ENV)
    marks = None
    if folder and key:
        try:
            marks = _MARKS.get(folder) or _MARKS.setdefault(folder, _Marks(folder))
            marks.change(add=key)
        except OSError:  # the mark only sharpens a death's report; never fail a step for it
            marks = None
    try:
        yield
    finally:
        if marks is not None:
            with contextlib.suppress(OSError):
                marks.change(drop=key)


def _marked(folder: str) -> list[str]:
    """The steps marked running by the worker processes that wrote into ``folder``; empties it."""
    keys: list[str] = []
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        with open(path, "rb") as f:
            text = f.read().split(b"\0", 1)[0].decode()
        keys += [k for k in text.split("\n") if k]
        os.remove(path)  # the next worker process starts with none running
    return sorted(keys)


def dask_setup(nanny: Any) -> None:
    """Nanny preload: log every exit of the nanny's worker process as a scheduler event."""
    from distributed import Nanny
    from distributed.core import Status

    if not isinstance(nanny, Nanny):  # preloaded into a worker: it cannot report its own death
        return
    on_exit = nanny._on_worker_exit_sync  # looked up at each (re)start of the worker process
    folder = tempfile.mkdtemp(prefix="hpo-kit-steps-")
    atexit.register(shutil.rmtree, folder, True)
    nanny.env[STEPS_ENV] = folder  # set in every worker process this nanny starts

    def report_exit(exitcode: int) -> None:
        manager = getattr(nanny, "memory_manager", None)
        try:
            keys: list[str] | None = _marked(folder)
        except OSError:
            keys = None
        event = {"worker": nanny.worker_address, "exitcode": exitcode, "running": keys,
                 "memory_limit": getattr(manager, "memory_limit", None),
                 "terminate": getattr(manager, "memory_terminate_fraction", None)}
        if nanny.status is Status.running:  # not a close (its scheduler may be gone already)
            try:
                nanny.log_event(EXIT_TOPIC, event)
            except Exception:  # noqa: BLE001 - the step's loss is reported all the same
                pass
        on_exit(exitcode)

    nanny._on_worker_exit_sync = report_exit
    nanny.log_event(HOOKED_TOPIC, {"nanny": nanny.address})


def exits_reported(client: Any) -> bool:
    """True when some nanny of the cluster preloads this module (so a death's exit status arrives)."""
    try:
        return bool(client.get_events(HOOKED_TOPIC))
    except Exception:  # noqa: BLE001 - an old or unreachable scheduler: no exit statuses
        return False


def death_cause(client: Any, worker: str | None, wait: float, exits: bool) -> WorkerDied | None:
    """What killed ``worker``, from the scheduler's events; ``None`` if nothing says so within ``wait`` s.

    Parameters
    ----------
    exits
        The cluster's nannies report exits (:func:`exits_reported`): wait for that event too.

    Returns
    -------
    WorkerDied or None
        A :class:`~hpo_kit.errors.WorkerOutOfMemory` when Dask's memory monitor killed it; its
        ``running`` holds the keys of the steps that were running, ``None`` where unknown.
    """
    if not worker:
        return None
    deadline = time.monotonic() + wait
    while True:
        try:
            memory = [m for _, m in client.get_events(MEMORY_TOPIC) if m.get("worker") == worker]
            ended = [m for _, m in client.get_events(EXIT_TOPIC) if m.get("worker") == worker]
        except Exception:  # noqa: BLE001 - the scheduler is going away: say what Dask said
            return None
        # The memory event is sent before the nanny's SIGTERM: after a SIGTERM, give it the whole wait.
        done = ended and (memory or ended[-1].get("exitcode") != -15) or (memory and not exits)
        if done or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    exit_ = ended[-1] if ended else {}
    if memory:
        cause: WorkerDied = _out_of_memory(memory[-1], exit_)
    elif exit_:
        cause = WorkerDied(f"the worker process {_exit_words(exit_['exitcode'])} while it ran the step "
                           f"(worker {worker})")
    else:
        return None
    cause.running = exit_.get("running")
    return cause


def _out_of_memory(memory: dict[str, Any], exit_: dict[str, Any]) -> WorkerOutOfMemory:
    limit, fraction = exit_.get("memory_limit"), exit_.get("terminate")
    if fraction is None:
        import dask

        fraction = dask.config.get("distributed.worker.memory.terminate", None)
    budget = (f"over {fraction:.0%} of its memory_limit of {_mib(limit)}" if limit and fraction
              else "over its memory limit")
    return WorkerOutOfMemory(f"the worker ran out of memory: Dask's memory monitor restarted it at "
                             f"{_mib(memory.get('rss'))}, {budget} (distributed.worker.memory.terminate; "
                             f"worker {memory.get('worker')})")


def _exit_words(code: int) -> str:
    # The nanny's own wording (distributed.nanny.WorkerProcess._death_message).
    if code == 255:
        return "was killed by an unknown signal"
    return f"exited with status {code}" if code >= 0 else f"was killed by signal {-code}"


def _mib(n: Any) -> str:
    return f"{n / 2 ** 20:.0f} MiB" if isinstance(n, (int, float)) else "?"
