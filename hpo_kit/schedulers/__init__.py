"""Schedulers: does a trial go on? (FIFO, ASHA, Hyperband, synchronous SHA, Hypersearch). See :mod:`.base`."""
from .asha import ASHA, Hyperband
from .base import FIFO, Scheduler
from .hypersearch import Hypersearch
from .sha import SuccessiveHalving

__all__ = ["ASHA", "FIFO", "Hyperband", "Hypersearch", "Scheduler", "SuccessiveHalving"]
