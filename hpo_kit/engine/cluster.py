"""Where trials run: an embedded LocalCluster by default, or a given Client / scheduler address.

The embedded cluster's worker processes never see a SIGINT. Jupyter interrupts a kernel
by signalling its whole process group (and a terminal's Ctrl+C does the same), so
without this a *Kernel -> Interrupt* killed every worker ("Worker process died
unexpectedly") and left the study waiting on steps that would never return. SIGINT is
blocked in the creating thread while the cluster starts: the cluster's event-loop
thread is created then and inherits the mask, and so does every thread it starts and
every worker process spawned from those threads (a blocked signal stays blocked across
``fork`` and ``exec``), including workers that a nanny restarts later. The caller's
thread gets its own mask back at once, so the kernel itself still sees the interrupt.
(multiprocessing's resource tracker *unblocks* SIGINT in the thread that first starts it,
so it is started before.) Belt and braces, each worker also sets SIGINT to ``SIG_IGN``
as it starts (this module is the workers' preload, :func:`dask_setup`). The preload also
drops the closed-comm tracebacks a worker logs when the study's end closes its scheduler
(:class:`ShutdownNoise`).
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster


# Dask's background sampling, where the user kept Dask's default: (Dask's default, ours). Idle, a
# worker process and its nanny burn 4.3% of a core at Dask's defaults and 0.4% at these
# (benchmarks/idle_workers.py): 64 workers on two cores would otherwise spend more CPU than the
# machine has on the statistical profiler (100 samples/s of every thread, which also takes the
# GIL from a trial's own Python loop), event-loop ticks, system and memory polls.
LEAN = {"distributed.worker.profile.enabled": (True, False),
        "distributed.admin.tick.interval": ("20ms", "200ms"),
        "distributed.admin.system-monitor.interval": ("500ms", "2s"),
        "distributed.worker.memory.monitor-interval": ("100ms", "500ms"),
        # Dask's developer logs (each stream's recent messages, transition logs): whole step specs
        # that only a Dask developer reads; 1,000 of each grew the driver by ~8 MiB (benchmarks/memory.py)
        "distributed.admin.low-level-log-length": (1000, 100)}


def lean_config() -> dict[str, Any]:
    """The :data:`LEAN` settings the user's Dask config leaves at Dask's defaults."""
    return {k: v for k, (dask_default, v) in LEAN.items() if dask.config.get(k) == dask_default}


def local_cluster(n_workers: int | None = None, resources: dict[str, float] | None = None,
                  threads_per_worker: int = 1, lean: bool = True, **kwargs: Any) -> LocalCluster:
    """A LocalCluster sized to the machine: one single-threaded worker process per core.

    Bound to 127.0.0.1 with the dashboard on a free port. Workers take tasks eagerly
    (``worker-saturation: inf``) so a queued-ahead trial waits *on* its worker and starts
    without a scheduler round trip.

    Dask's own background sampling is slowed (``lean``, :data:`LEAN`: no statistical profiler, the
    memory monitor every 0.5 s, Dask's developer logs 100 entries long) unless the user's Dask config sets those keys: the Dask dashboard's
    profile page is then empty; ``dask.config.set({"distributed.worker.profile.enabled": True})``
    before the study brings it back.

    Dask never re-runs a step here (``distributed.scheduler.allowed-failures: 0``): a step
    whose worker dies fails at once, and the study's ``max_retries`` alone decides whether it
    runs again (Dask's default of 3 re-runs multiplied with it). The nannies preload
    :mod:`hpo_kit.engine.deaths`, so such a failure names the exit status or the memory limit.
    A cluster given by address keeps its own ``allowed-failures`` (3 by default): each re-run
    Dask makes there is counted as one of ``max_retries`` when its step's start is seen
    (:meth:`hpo_kit.engine.driver.recovery.Recovery._dask_rerun`), and the step is cancelled past the limit;
    but that re-run has started by then, and a worker that dies within milliseconds of a start
    may go unseen, so such a trial can run once or twice more than ``1 + max_retries``. For
    exact counts start that scheduler with ``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0``.
    """
    n_workers = n_workers or os.cpu_count() or 1
    # LocalCluster closes a worker's nanny when no worker of that name is registered 15 s
    # after a loss; a worker killed again while its nanny restarts it (OOM loops, chaos
    # tests) would then shrink the cluster for good. Nannies restart workers themselves, so
    # wait longer (process-wide, and only if the user kept the default).
    if dask.config.get("distributed.deploy.lost-worker-timeout") == "15s":
        dask.config.set({"distributed.deploy.lost-worker-timeout": "10 minutes"})
    quiet = lean_config() if lean else {}
    # Several threads only make sense with fractional resources (small trials sharing a GPU).
    preload = [*(kwargs.pop("preload", None) or []), __name__]  # workers ignore SIGINT (dask_setup)
    preload_nanny = [*(kwargs.pop("preload_nanny", None) or []), "hpo_kit.engine.deaths"]  # exit statuses
    with dask.config.set({"distributed.scheduler.worker-saturation": "inf",
                          "distributed.scheduler.allowed-failures": 0,
                          **quiet}), sigint_blocked():
        return LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True, host="127.0.0.1",
                            dashboard_address="127.0.0.1:0", resources=resources, preload=preload,
                            preload_nanny=preload_nanny, silence_logs=kwargs.pop("silence_logs", 40), **kwargs)


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread (and so in the threads and processes started meanwhile), then restore.

    A no-op where signal masks do not exist (Windows).
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # started later, it would unblock SIGINT in the cluster's loop thread
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def dask_setup(worker: Any) -> None:
    """Worker preload of the embedded cluster: the worker process ignores SIGINT, and its shutdown is quiet."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    quiet = ShutdownNoise()
    for handler in {*logging.getLogger("distributed").handlers, *logging.getLogger().handlers}:
        if not any(isinstance(f, ShutdownNoise) for f in handler.filters):
            handler.addFilter(quiet)


class ShutdownNoise(logging.Filter):
    """Drops the errors an embedded worker logs because its scheduler has gone: the study ended.

    The embedded cluster's scheduler lives in the process that started the study; when the
    study ends it closes, and a worker whose heartbeat or task stream was in flight logs a
    ~30-line ``CommClosedError`` traceback ("Failed to communicate with scheduler during
    heartbeat") before it is told to close. ipykernel forwards the workers' stderr into the
    notebook, so the end of every study showed red. Only errors caused by a closed comm are
    dropped, and only in the embedded cluster's workers (this module is their preload); a
    cluster given by address logs as it always did.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from distributed.comm.core import CommClosedError
        from tornado.iostream import StreamClosedError

        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, (CommClosedError, StreamClosedError)):
                return record.levelno < logging.ERROR  # what would print red
            exc = exc.__cause__ or exc.__context__
        return True


def connect(cluster: Any = None, n_workers: int | None = None) -> tuple[Client, list[Any]]:
    """Return a client and the resources this call created (to close afterwards).

    Parameters
    ----------
    cluster
        ``None`` (start a LocalCluster), a scheduler address string, a ``Client``, or a
        cluster object with ``scheduler_address``. Only the LocalCluster started here is
        set up never to re-run a step (see :func:`local_cluster` for the others).
    """
    if cluster is None:
        lc = local_cluster(n_workers)
        with dask.config.set(lean_config()):  # the client's stream keeps as short a log as the cluster's
            client = Client(lc)
        return client, [client, lc]
    if isinstance(cluster, Client):
        return cluster, []
    if isinstance(cluster, str):
        client = Client(cluster)
        return client, [client]
    if hasattr(cluster, "scheduler_address"):
        client = Client(cluster)
        return client, [client]
    raise TypeError(f"cluster={cluster!r}: expected None, a scheduler address, a Client or a cluster")


def worker_count(client: Client) -> int:
    """Threads across the cluster's workers (one trial per thread)."""
    return max(1, sum(client.nthreads().values()))
