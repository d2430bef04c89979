"""hpo_kit: hyperparameter optimisation of deep-learning models on Dask, Jupyter first.

Layers (each folder one concern): :mod:`hpo_kit.space`, :mod:`hpo_kit.goal`,
:mod:`hpo_kit.trial` (records); :mod:`hpo_kit.optimizers` (pure policies);
:mod:`hpo_kit.engine` (Dask, journal, checkpoints); :mod:`hpo_kit.study` (the public
facade); :mod:`hpo_kit.diagnosis` (monitors); :mod:`hpo_kit.ui` (views).
"""
from .diagnosis import Diagnosis, Watcher
from .engine.checkpoint import CheckpointStore
from .engine.journal import read_journal
from .engine.replay import replay
from .engine.worker import Reporter
from .goal import Goal
from .monitor import Finding, Monitor
from .optimizers import (ASHA, Decision, GridSearch, Hypersearch, Optimizer, RandomSearch, Resume, Start,
                         SuccessiveHalving, TimeAwareBO)
from .space import Categorical, Integer, Real, Space, SpaceError
from .study import Study
from .trainable import TorchTrainable, Trainable
from .trial import Observation, Trial, TrialStatus

__version__ = "0.1.0"

__all__ = ["ASHA", "CheckpointStore", "Hypersearch", "SuccessiveHalving", "TimeAwareBO", "Categorical", "Decision", "Diagnosis", "Finding", "Goal", "GridSearch", "Integer",
           "Monitor", "Observation", "Optimizer", "RandomSearch", "Real", "Reporter", "Resume", "Space", "SpaceError",
           "Start", "Study", "TorchTrainable", "Trainable", "Trial", "TrialStatus", "Watcher", "read_journal", "replay"]
