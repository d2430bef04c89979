"""A study's life cycle: open (journal, cluster, policy, driver), drive the loop, close.

Split from :mod:`hpo_kit.study` so the facade reads in one sitting. The journal lock is
taken first (a locked journal must not start a cluster) and released on every path
out, including a start that fails half-way; a loop that crashes is journalled
``study_end state="failed"`` with its error, never "finished".
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cloudpickle

from .handler import Driver
from ..cluster import connect, worker_count
from ..journal import Journal
from .runner import Runner
from ..worker.step import code_files
from ...errors import RepeatedTrialError, disk_full, not_serializable
from ...progress import Progress
from .resume import restore_into, resume_from  # noqa: F401 - Study.resume(path)
from ...summary import warn_if_all_failed, warn_if_no_finite_score
from ...warm_start import tell_warm

if TYPE_CHECKING:
    from ...study import Study


class _Locked:
    """The driver as the runner's handler, each call under the study lock (reads from other threads)."""

    def __init__(self, driver: Driver, lock: Any) -> None:
        self._driver, self._lock = driver, lock

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._driver, name)

        def call(*args: Any) -> Any:
            with self._lock:
                return fn(*args)

        return call



class Hybrid:
    """``Study.resume(path)`` reloads a journal; ``study.resume()`` un-pauses a study."""

    def __init__(self, cls_fn: Callable, inst_fn: Callable) -> None:
        self.cls_fn, self.inst_fn = cls_fn, inst_fn

    def __get__(self, obj: Any, owner: type) -> Callable:
        if obj is None:
            return self.cls_fn.__get__(owner, owner)
        return self.inst_fn.__get__(obj, owner)


def settings_of(study: "Study") -> dict[str, Any]:
    """Everything a resume needs to rebuild the study's settings (journalled at start)."""
    return {"n_trials": study.n_trials, "time_budget": study.time_budget, "trial_timeout": study.trial_timeout,
            "warmup_timeout": study.warmup_timeout, "max_epochs": study.max_epochs, "concurrency": study.concurrency,
            "prefetch": study.prefetch, "on_flag": study.on_flag, "resources": study.resources,
            "max_retries": study.max_retries, "on_interrupted": study.on_interrupted,
            "checkpoint_every": study.checkpoint_every, "keep_paused": study.keep_paused,
            "stop_when": [r.to_record() for r in study.stop_rules], "seed": study.seed, "fail_fast": study.fail_fast,
            "checkpoints": study.store.url, "weights_only": study.store.weights_only}


def open_study(study: "Study", progress: bool) -> None:
    """Take the journal, connect the cluster, bind the policy and start the driver."""
    if study.state != "created":
        raise RuntimeError(f"study {study.name!r} is {study.state}; create a new Study or use Study.resume(path)")
    path = study.journal_path
    if study._resumed is None and os.path.isfile(path) and os.path.getsize(path) > 0:  # a folder: Journal says so
        raise FileExistsError(f"journal={path!r} already holds a study: continue it with Study.resume(path) "
                              f"or give a new journal path")
    if study.cluster is None and getattr(multiprocessing.current_process(), "_inheriting", False):
        # A spawned child is importing the user's script (Python's own check, _check_not_importing_main).
        raise RuntimeError("a Study with the embedded LocalCluster was started while a worker process imported "
                           "your script: put the code that runs the study under `if __name__ == \"__main__\":` "
                           "(the cluster's worker processes import the main module)")
    check_serializable(study)  # before the journal: nothing is started, the study stays "created"
    study._journal = study._journal or Journal(path)
    try:
        study.ledger.journal = study._journal
        study.client, study._owned = _connect(study)
        slots = worker_count(study.client)
        if study.resources:
            check_resources(study.client, study.resources, study.resource_wait)
        if study.concurrency is not None and study.concurrency > slots:
            warnings.warn(f"concurrency={study.concurrency} exceeds the cluster's {slots} worker threads: "
                          f"at most {slots} trials run at once", RuntimeWarning, stacklevel=3)
        study.concurrency = study.concurrency or slots
        study.prefetch = study.concurrency if study.prefetch is None else study.prefetch
        study.optimizer.setup(study.space, study.goal, study.max_epochs, study.concurrency, study.ledger.trials)
        tell_warm(study.optimizer, study.warm)  # before any ask, and before a resume re-tells the history
        run_id = uuid.uuid4().hex[:12]
        if study._resumed is not None:
            fence_previous_runs(study.client, study.journal_path)  # before any step of this run starts
        study._runner = Runner(study.client, run_id)
        study._driver = Driver(study, study.ledger, study._runner, slots)
        study._t0 = time.time()
        if study._resumed is None:
            _save_code(study)
            study.ledger.log("study_start", name=study.name, goal=vars(study.goal), space=study.space.to_dict(),
                             optimizer=study.optimizer.describe(), settings=settings_of(study),
                             dashboard=getattr(study.client, "dashboard_link", None), run=run_id)
            if study.warm is not None:
                study.ledger.log("warm_start", **study.warm.to_record())
        else:
            study.ledger.log("study_run", run=run_id)
            restore_into(study, study._resumed)
        study._driver.journal_enqueues()
        study._driver.arm_fail_fast()  # this run's trial ends count from here, not the journal's
        study._progress = Progress.for_study(study, enabled=progress)  # counts right after a resume, under rungs
        study.state = "running"
    except BaseException:
        close_study(study, None, journal_end=False)
        raise


def drive(study: "Study") -> None:
    """Run the loop to its end and close; what ended a crashed loop goes to ``study.error``."""
    error: BaseException | None = None
    try:
        study._runner.run(_Locked(study._driver, study._lock))
        with study._lock:
            study._driver.settle_paused()
    except BaseException as exc:  # noqa: BLE001 - journalled as a failed study, re-raised by wait()/run()
        error = exc
        if study._thread is not None:
            traceback.print_exc()
    finally:
        close_study(study, error)


def close_study(study: "Study", error: BaseException | None, journal_end: bool = True) -> None:
    """Journal the end, then release the journal, the progress bar, the runner, the policy and the cluster."""
    with study._lock:
        driver = study._driver
        failure = getattr(driver, "failure", None)  # fail_fast stopped it: it ends failed, with that error
        error = error or failure
        stopped = driver is not None and driver.stopping
        state = "failed" if error is not None else "stopped" if stopped else "finished"
        try:
            if study._journal is not None and journal_end:
                fields = {"error": f"{type(error).__name__}: {error}"} if error is not None else {}
                if failure is not None and error is failure:
                    fields["reason"] = "fail_fast"
                elif stopped and driver.stop_reason:
                    fields["reason"] = driver.stop_reason  # a stop rule's names the rule
                study.ledger.log("study_end", state=state, n_trials=len(study.ledger), **fields)
        except OSError as exc:  # the journal is gone or the disk is full: end "failed", release everything
            state = "failed"
            error = error or exc
        finally:
            try:
                if study._journal is not None:
                    study._journal.close()
            except OSError as exc:  # its last flush failed (a full disk): the cluster must still close
                state, error = "failed", error or exc
            study._journal = None
            study.ledger.journal = None
            for closer in (getattr(study._progress, "close", None), getattr(study._runner, "close", None),
                           study.optimizer.close, *(getattr(o, "close", None) for o in study._owned)):
                if closer is None:
                    continue
                try:
                    closer()
                except Exception:  # noqa: BLE001 - closing a dying cluster must not mask results
                    pass
            study.error = error
            study.end_reason = driver.stop_reason if stopped else None
            study.state = state if journal_end else "created"
    if journal_end and not isinstance(error, RepeatedTrialError):  # failed fast: its error says it all
        if not warn_if_all_failed(study) and error is None:
            warn_if_no_finite_score(study)


def fence_previous_runs(client: Any, path: str) -> int:
    """Mark every earlier run of the journal ended in its control record (:mod:`hpo_kit.engine.driver.control`).

    A driver killed without a word leaves its steps training on a remote cluster; a resume
    must not train the same trials beside them (they would also write the same checkpoints).
    Returns how many runs were fenced.
    """
    from distributed import Variable

    from .control import variable_name
    from ..journal import read_journal

    runs = {r["run"] for r in read_journal(path) if r.get("event") in ("study_start", "study_run")
            and isinstance(r.get("run"), str)}
    for run in runs:
        try:
            Variable(variable_name(run), client=client).set({"ended": True})
        except Exception:  # noqa: BLE001 - a scheduler that never ran it (a new cluster): nothing to fence
            pass
    return len(runs)


def _connect(study: "Study") -> tuple[Any, list[Any]]:
    address = study.cluster
    if isinstance(address, str) and address.startswith("tls://") and study.security is None:
        raise ValueError(f"Study: cluster={address!r} is a TLS address: pass security=Security(...) "
                         f"(distributed.security.Security) with the cluster's certificates")
    if isinstance(address, str) and study.security is not None:
        from distributed import Client

        client = Client(address, security=study.security)
        return client, [client]
    try:
        return connect(address, study.n_workers)
    except RuntimeError as exc:
        main = sys.modules.get("__main__")
        if address is None and getattr(main, "__file__", None) and "failed to start" in str(exc):
            raise RuntimeError(f"the embedded LocalCluster's workers failed to start. In a script, put the code "
                               f"that runs the study under `if __name__ == \"__main__\":` ({main.__file__} is "
                               f"imported by every worker process)") from None
        raise


def check_serializable(study: "Study") -> None:
    """Raise :class:`~hpo_kit.errors.NotSerializable` if the objective or data loader cannot reach a worker.

    Dask would fail the first submission with a dump of its task graph instead.
    """
    for what, obj in (("objective", study.objective), ("data", study.data)):
        if obj is None:
            continue
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:  # noqa: BLE001 - pickling raises TypeError, PicklingError, AttributeError...
            name = getattr(obj, "__qualname__", type(obj).__name__)
            raise not_serializable(f"Study: {what}={name}", exc) from exc


def check_resources(client: Any, resources: dict[str, float], wait: float) -> None:
    """Wait up to ``wait`` seconds for a worker that has every requested resource; else raise.

    Dask would queue such steps forever without a word (no worker can ever run them).
    """
    deadline = time.monotonic() + wait
    while True:
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        have = {addr: w.get("resources", {}) for addr, w in workers.items()}
        if any(all(r.get(k, 0) >= v for k, v in resources.items()) for r in have.values()):
            return
        if time.monotonic() >= deadline:
            raise ValueError(f"Study: resources={resources!r}: no worker has them after {wait:g} s; the workers "
                             f"have {sorted({str(r) for r in have.values()}) or 'none'} (start workers with "
                             f"--resources, e.g. `dask worker ADDRESS --resources GPU=1`)")
        time.sleep(0.5)


def _save_code(study: "Study") -> None:
    # The objective and data loader are code, not JSON: keep them beside the journal so
    # Study.resume(path) needs nothing but the path (cloudpickle handles notebook functions).
    try:
        blob = cloudpickle.dumps({"objective": study.objective, "data": study.data, "optimizer": study.optimizer,
                                  "monitor": study.monitor, "code_files": code_files(study.objective)})
    except Exception as exc:  # noqa: BLE001 - resume then needs the objective passed again
        warnings.warn(f"study {study.name!r}: cannot pickle its code for Study.resume ({type(exc).__name__}: "
                      f"{exc}); a resume will need objective= and data= again", RuntimeWarning, stacklevel=3)
        return
    try:
        with open(study.journal_path + ".pkl", "wb") as f:
            f.write(blob)
    except OSError as exc:
        full = disk_full(exc, "the study's code beside its journal", study.journal_path + ".pkl")
        if full is None:
            raise
        raise full from exc
