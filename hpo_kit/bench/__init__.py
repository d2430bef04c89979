"""Replayable benchmarks as data: recorded tables, their replay on the virtual clock, ground-truth quality.

* :mod:`.table`: the table format (:class:`Table`, :class:`Row`), :func:`record` from a study journal.
* :mod:`.replay`: :func:`replay` any searcher x scheduler x monitor over a table (``simulate``).
* :mod:`.quality`: ground truth ("ends good" / "ends bad"), per-indicator precision/recall, paired seeds.
* :mod:`.digits`: the workload of the table that ships in ``tests/data/``.
"""
from .table import Row, Table, record

__all__ = ["Row", "Table", "record"]
