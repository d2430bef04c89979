"""A normal end prints no traceback: the embedded workers drop the closed-comm errors of their scheduler's end.

The records are built as ``distributed.worker`` logs them when its heartbeat finds the
scheduler gone (a ``CommClosedError`` caused by tornado's ``StreamClosedError``).
"""
from __future__ import annotations

import logging

from distributed.comm.core import CommClosedError
from tornado.iostream import StreamClosedError

from hpo_kit.engine.cluster import ShutdownNoise, dask_setup


def _record(exc: BaseException | None, level: int = logging.ERROR) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("distributed.worker", level, __file__, 1,
                             "Failed to communicate with scheduler during heartbeat.", None, info)


def _caused(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except type(inner) as e:
            raise outer from e
    except type(outer) as e:
        return e


def test_closed_comm_errors_are_dropped_and_other_errors_kept():
    quiet = ShutdownNoise()
    assert not quiet.filter(_record(CommClosedError("in <TCP (closed)>")))
    assert not quiet.filter(_record(_caused(CommClosedError("closed"), StreamClosedError())))
    assert not quiet.filter(_record(_caused(OSError("send failed"), CommClosedError("closed"))))
    assert quiet.filter(_record(CommClosedError("closed"), logging.INFO))  # not red: left alone
    assert quiet.filter(_record(ValueError("a real bug")))
    assert quiet.filter(_record(None))


def test_the_workers_preload_installs_it_once_on_the_distributed_handlers():
    import signal

    handler = logging.StreamHandler()
    logger = logging.getLogger("distributed")
    logger.addHandler(handler)
    sigint = signal.getsignal(signal.SIGINT)  # the preload ignores SIGINT: this process must not
    try:
        worker = object()
        dask_setup(worker)
        dask_setup(worker)  # a worker restarted by its nanny runs the preload again
        assert sum(isinstance(f, ShutdownNoise) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)
        signal.signal(signal.SIGINT, sigint)
