"""hpo_kit: hyperparameter optimisation of deep-learning models on Dask, Jupyter first.

Layers (each folder one concern): :mod:`hpo_kit.space`, :mod:`hpo_kit.goal`,
:mod:`hpo_kit.trial` (records) and :mod:`hpo_kit.ledger` (their one owner);
:mod:`hpo_kit.searchers` (what to try) and :mod:`hpo_kit.schedulers` (does a trial go on),
pure policies; :mod:`hpo_kit.diagnosis` (monitors: is a trial sick?); :mod:`hpo_kit.engine`
(the runner on Dask, journal, checkpoints, simulator); :mod:`hpo_kit.study` (the public
facade); :mod:`hpo_kit.ui` (views).

Names are imported lazily (PEP 562), so ``import hpo_kit.optimizers`` or
``hpo_kit.searchers`` loads neither Dask, torch nor pandas.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_WHERE = {
    "ASHA": "schedulers", "FIFO": "schedulers", "Hyperband": "schedulers", "Hypersearch": "schedulers",
    "Scheduler": "schedulers", "SuccessiveHalving": "schedulers",
    "AskTellSearcher": "searchers", "GridSearch": "searchers", "RandomSearch": "searchers",
    "Searcher": "searchers", "TimeAwareBO": "searchers", "ParEGO": "searchers",
    "hypervolume": "pareto", "nondominated": "pareto",
    "Optimizer": "optimizers", "Decision": "decisions", "Resume": "decisions", "Start": "decisions",
    "Diagnosis": "diagnosis", "Watcher": "diagnosis", "LearningCurve": "diagnosis.curve", "AnyOf": "diagnosis.combine",
    "CheckpointStore": "engine.checkpoint",
    "read_journal": "engine.journal", "replay": "engine.replay", "Reporter": "engine.worker.reporter", "Goal": "goal",
    "Finding": "monitor", "Monitor": "monitor", "Categorical": "space", "Integer": "space", "Real": "space",
    "Space": "space", "SpaceError": "space", "Study": "study", "TorchTrainable": "trainable",
    "Trainable": "trainable", "Observation": "trial", "Trial": "trial", "TrialStatus": "trial",
    "Ledger": "ledger", "IllegalTransition": "ledger", "log_to_stderr": "callbacks",
    "Target": "stopping_rules", "NoImprovement": "stopping_rules", "StopRule": "stopping_rules",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
