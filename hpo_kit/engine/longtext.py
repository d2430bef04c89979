"""Long strings in journal records: shortened in the journal, kept whole in a file beside it.

A 10-MB error message, or a metric whose name is megabytes long, was journalled whole, in
every record that carried it (40 MB for 2 trials), and every reader of the journal (a
resume, the dashboard, a panel) paid for it. :class:`Shortener` cuts, in a record about to
be journalled, each string longer than :data:`MAX_TEXT` characters (errors, tracebacks,
reasons, messages; mapping keys -- metric names -- longer than :data:`MAX_KEY`), keeping its
start and end and putting a marker in the middle::

    <start> … [hpo_kit: 9,960,000 of 10,000,000 characters cut; full text in j.jsonl.full/3f2a….txt] … <end>

The full text goes to ``<journal>.full/<sha256 prefix>.txt`` (the marker names it relative
to the journal's directory), written once per distinct text, so a metric name repeated in
every report costs one file. If that file cannot be written the marker says so, and the
journal is still written: the cut is what keeps it usable. The live study keeps the full
text in memory (``study.trials[i].error``); only the journal and its readers see the cut.

Fields a resume must read back exactly are never cut: configurations, the space, the
goal, settings, the optimizer's parameters and control values (:data:`EXACT`). A record
whose JSON is short cannot hold a long string, so only long lines are walked.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any

#: Longest string kept whole in a journal record (errors, tracebacks, reasons ...).
MAX_TEXT = 20_000
#: Longest mapping key kept whole (metric names: a name is read in every report line).
MAX_KEY = 1_000
#: Top-level fields kept exactly: a resume rebuilds the study from them.
EXACT = frozenset({"v", "t", "event", "config", "space", "goal", "settings", "optimizer", "value", "name"})
_EDGE_KEY = 200  # characters kept at each end of a cut key


def clip(text: str, limit: int = 500, where: str = "the whole text is in the study's trial record") -> str:
    """``text`` cut to about ``limit`` characters for a message (a warning, an error), saying where it is whole.

    No side file: for texts the study keeps whole elsewhere (``study.trials[i].error``, the journal's
    ``.full/``), quoted in a message that must stay readable.
    """
    if len(text) <= limit:
        return text
    edge = max(1, limit // 2 - 40)
    return f"{text[:edge]} … [{len(text) - 2 * edge:,} of {len(text):,} characters cut; {where}] … {text[-edge:]}"


class Shortener:
    """Cuts long strings of journal records; the full texts go to ``<journal>.full/``.

    Parameters
    ----------
    journal_path
        The journal the records are written to.
    max_text, max_key
        Longest string value and mapping key kept whole.
    """

    def __init__(self, journal_path: str, max_text: int = MAX_TEXT, max_key: int = MAX_KEY) -> None:
        self.dir = journal_path + ".full"
        self.base = os.path.dirname(os.path.abspath(journal_path))
        self.max_text, self.max_key = max_text, max_key
        self.threshold = min(max_text, max_key)

    def line_may_hold_long(self, line: str) -> bool:
        """Whether a record's JSON line is long enough to hold a string worth cutting (cheap pre-check)."""
        return len(line) > self.threshold

    def shorten(self, record: dict[str, Any]) -> dict[str, Any]:
        """The record with each long string cut (a new dict; ``record`` is not changed)."""
        return {k: v if k in EXACT else self._walk(v) for k, v in record.items()}

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._cut(value, self.max_text, self.max_text // 2 - 200) if len(value) > self.max_text else value
        if isinstance(value, dict):
            return {(self._cut(k, self.max_key, _EDGE_KEY) if isinstance(k, str) and len(k) > self.max_key else k):
                    self._walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(v) for v in value]
        return value

    def _cut(self, text: str, limit: int, edge: int) -> str:
        edge = max(1, min(edge, limit // 2))
        where = self._keep(text)
        cut = len(text) - 2 * edge
        return f"{text[:edge]} … [hpo_kit: {cut:,} of {len(text):,} characters cut; {where}] … {text[-edge:]}"

    def _keep(self, text: str) -> str:
        """Write ``text`` to its side file (once); the marker's words for where it is."""
        data = text.encode("utf-8", "surrogatepass")
        path = os.path.join(self.dir, hashlib.sha256(data).hexdigest()[:24] + ".txt")
        try:
            if not os.path.exists(path):
                os.makedirs(self.dir, exist_ok=True)
                tmp = f"{path}.{os.getpid()}.tmp"
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)  # never a half-written side file under its final name
        except OSError as exc:
            return f"the full text could not be kept ({type(exc).__name__}: {exc})"
        return f"full text in {os.path.relpath(path, self.base)}"
