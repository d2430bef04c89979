"""Search policies: pure decision makers behind one interface (:mod:`.base`)."""
from .base import Decision, Optimizer, Resume, Start, Suggestion
from .bo import TimeAwareBO
from .grid_search import GridSearch
from .random_search import RandomSearch

__all__ = ["Decision", "Optimizer", "Resume", "Start", "Suggestion", "GridSearch", "RandomSearch", "TimeAwareBO"]
