"""Replayable benchmarks as data: recorded tables, their replay on the virtual clock, ground-truth quality.

* :mod:`.table`: the table format (:class:`Table`, :class:`Row`) and :func:`record`, which writes one
  from any study's journal.
* :mod:`.replay`: :func:`replay` runs any searcher x scheduler x monitor over a table with
  :func:`hpo_kit.engine.simulator.simulate` (per-epoch times, hard time budget, target, decision time).
* :mod:`.quality`: ground truth (:func:`truth`: "ends good" / "ends bad"), first flags, per-indicator
  precision/recall (:func:`flag_quality`), paired-seed comparisons (:func:`paired`) with intervals.
* :mod:`.control`: the random-flag control (:class:`RandomFlags`: as many stops at the same epochs on
  random trials; :func:`random_flags` on ground truth), printed beside every monitor's figures.
* :mod:`.digits`: the workload of the MLP tables in ``tests/data/`` (``benchmarks/record_table.py``).
* :mod:`.digits_resnet`, :mod:`.mnist_cnn`: workloads over a plain user's space (``benchmarks/diagnosis.py
  --part record --model``); the first is ``tests/data/digits_resnet.jsonl.gz``.
* :mod:`.regression`: torch regressions that ship offline (``benchmarks/hypersearch.py``).

``python benchmarks/replay.py --table tests/data/digits_mlp.jsonl.gz`` prints every table.
"""
from .control import RandomFlags, random_flags
from .quality import first_flags, flag_quality, paired, top_half, truth
from .replay import replay, row_of
from .table import Row, Table, record

__all__ = ["RandomFlags", "Row", "Table", "first_flags", "flag_quality", "paired", "random_flags", "record", "replay",
           "row_of", "top_half", "truth"]
