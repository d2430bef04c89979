"""The user's own modules reach workers started from the CLI, which cannot import them (engine.usercode)."""
from __future__ import annotations

import importlib
import sys
import textwrap

from hpo_kit import Real, Study
from hpo_kit.engine.journal import read_journal

HELPER = '''
OFFSET = 0.25


def shifted(x):
    return (x - OFFSET) ** 2
'''

TASK = '''
import os

import shiphelper_f4
from shiphelper_f4 import shifted


def load():
    return {"scale": 2.0}


def objective(config, reporter):
    reporter.report(epoch=1, loss=reporter.data["scale"] * shifted(config["x"]) + shiphelper_f4.OFFSET,
                    pid=os.getpid())
'''


def _user_modules(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "shiphelper_f4.py").write_text(textwrap.dedent(HELPER))
    (src / "shiptask_f4.py").write_text(textwrap.dedent(TASK))
    monkeypatch.syspath_prepend(str(src))  # the driver's path only: the workers never see this folder
    for name in ("shiptask_f4", "shiphelper_f4"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module("shiptask_f4")


def test_an_objective_in_a_module_the_workers_cannot_import_runs_there(remote_cluster, tmp_path, monkeypatch):
    from distributed import Client

    task = _user_modules(tmp_path, monkeypatch)
    with Client(remote_cluster, timeout=60) as c:
        c.wait_for_workers(2, timeout=90)
        assert not any(c.run(importlib.util.find_spec, "shiptask_f4").values())  # the premise
    journal = tmp_path / "study.jsonl"
    study = Study(task.objective, {"x": Real(0, 1)}, n_trials=4, cluster=remote_cluster, journal=journal,
                  data=task.load, seed=0)
    study.run(progress=False)
    df = study.results
    assert (df.status == "COMPLETED").all(), df[["status", "error"]].to_string()
    t = study.trials[0]
    assert t.reports[0]["metrics"]["loss"] == 2.0 * (t.config["x"] - 0.25) ** 2 + 0.25
    shipped = [r for r in read_journal(journal) if r["event"] == "code_shipped"]
    assert shipped and {"shiptask_f4", "shiphelper_f4"} <= set(shipped[0]["modules"])
    assert task.objective.__module__ == "shiptask_f4"  # the driver's module is left as it was
    resumed = Study.resume(journal, n_trials=6, cluster=remote_cluster)  # a new run ships the code again
    resumed.run(progress=False)
    assert len(resumed.trials) == 6 and (resumed.results.status == "COMPLETED").all()
    assert len([r for r in read_journal(journal) if r["event"] == "code_shipped"]) == 2
    from hpo_kit.engine.audit import replay_audited

    assert replay_audited(journal).damaged == []  # the record is accepted by the audit and the replay
    import cloudpickle

    assert "shiptask_f4" not in cloudpickle.cloudpickle._PICKLE_BY_VALUE_MODULES  # registered only while pickling


def test_where_the_module_imports_the_worker_uses_it_and_only_user_modules_are_packed(tmp_path, monkeypatch):
    import json
    import pickle

    import hpo_kit
    from hpo_kit.engine.shipping import Shipper
    from hpo_kit.engine.usercode import is_user_module, user_modules

    task = _user_modules(tmp_path, monkeypatch)
    assert {"shiptask_f4", "shiphelper_f4"} <= set(user_modules())
    assert not is_user_module("json", json) and not is_user_module("hpo_kit", hpo_kit)
    shipper = Shipper()
    payload = shipper.ship(task.objective)
    assert payload.fallback is not None and shipper.modules == {"shiptask_f4", "shiphelper_f4"}
    assert pickle.loads(pickle.dumps(payload)) is task.objective  # importable here: by reference, the same object
    del sys.modules["shiptask_f4"], sys.modules["shiphelper_f4"]
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path / "src")])
    payload.digest = "not-loaded-yet"
    shipped = pickle.loads(pickle.dumps(payload))  # not importable: the by-value fallback
    assert shipped is not task.objective and shipped.__module__ == "shiptask_f4" and "shiptask_f4" not in sys.modules


def test_a_module_too_big_to_send_with_each_step_is_named_in_a_warning(tmp_path, monkeypatch):
    import pytest

    from hpo_kit.engine import shipping

    task = _user_modules(tmp_path, monkeypatch)
    monkeypatch.setattr(shipping, "FALLBACK_MAX", 100)
    with pytest.warns(RuntimeWarning, match=r"shiptask_f4.*workers must import them"):
        payload = shipping.Shipper().ship(task.objective)
    assert payload.fallback is None


def test_an_objective_that_carries_no_user_module_reads_no_distribution_metadata():
    """Reading every distribution's metadata took about a second on the loop at each study's first step
    (loop_peers W2: utilisation 96% -> 91%); it is read only for modules a pickle actually carries."""
    from hpo_kit.engine import usercode
    from hpo_kit.engine.shipping import Shipper
    from hpo_kit.testing import quadratic

    usercode._installed_tops.cache_clear()
    Shipper().prepare(quadratic, None)
    assert usercode._installed_tops.cache_info().misses == 0
