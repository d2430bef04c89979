"""Search policies: pure decision makers behind one interface (:mod:`.base`)."""
from .asha import ASHA
from .base import Decision, Optimizer, Resume, Start, Suggestion
from .bo import TimeAwareBO
from .grid_search import GridSearch
from .hypersearch import Hypersearch
from .random_search import RandomSearch
from .sha import SuccessiveHalving

__all__ = ["Decision", "Optimizer", "Resume", "Start", "Suggestion", "GridSearch", "RandomSearch", "TimeAwareBO",
           "ASHA", "SuccessiveHalving", "Hypersearch"]
