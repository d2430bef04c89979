"""Trial errors grouped as one error: the exception type and its message with the varying parts masked.

The same mistake reads differently in every trial: a worker's address, a temporary path, an
object's id, a config value or a tensor's size sit in the message (``KilledWorker: ... on
tcp://127.0.0.1:40581``, ``ValueError: lr=0.0123 too large``). Counted by their text, one
error that every trial hit was reported as "1 of 4 ... 3 other error(s)" (issue 26 item 8).
:func:`error_key` masks, in this order, quoted values, URLs and host:port addresses, paths,
UUIDs and hex ids, and numbers (``nan``/``inf`` included), so those trials share one key;
the words of the message and the exception type still tell errors apart. Only the first
line counts (``Type: message``; the traceback is elsewhere). Used by the all-failed warning
(:mod:`hpo_kit.summary`) and the fail-fast rule (:mod:`hpo_kit.engine.driver.failfast`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ErrorGroup", "error_key", "first_line", "group_errors"]

NO_ERROR = "no error recorded"

_MASKS = [
    # a quoted value, not an apostrophe inside a word ("can't")
    (re.compile(r"""(?<![\w'"])(?:'[^'\n]*'|"[^"\n]*")(?![\w'"])"""), "<q>"),
    (re.compile(r"\b[a-zA-Z][\w+.-]*://[^\s,;)\]}'\"]+"), "<addr>"),  # tcp://10.0.0.3:8786, https://...
    (re.compile(r"\[?(?:\d{1,3}\.){3}\d{1,3}\]?(?::\d+)?|\b[\w.-]+:\d{2,5}\b"), "<addr>"),  # host:port, IPv4
    (re.compile(r"(?:[A-Za-z]:\\|~?/)[^\s:,;'\"()\[\]]*[/\\][^\s:,;'\"()\[\]]*|(?:[A-Za-z]:)?\\[^\s:,;'\"]+"),
     "<path>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"), "<id>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<id>"),
    (re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])|\b(?:nan|inf|NaN|Inf)\b"), "<n>"),
]


def first_line(text: str | None) -> str:
    """The first non-empty line of an error's text (``"no error recorded"`` for none)."""
    if not text or not text.strip():
        return NO_ERROR
    return text.strip().splitlines()[0]


def error_key(text: str | None) -> str:
    """The group of an error: its first line with quoted values, addresses, paths, ids and numbers masked.

    >>> error_key("KilledWorker: task 'step-3-0' died on tcp://127.0.0.1:40581")
    'KilledWorker: task <q> died on <addr>'
    """
    line = first_line(text)
    kind, sep, message = line.partition(": ")
    if not sep:  # "KeyboardInterrupt", or a message with no type
        kind, message = "", line
    for pattern, mask in _MASKS:
        message = pattern.sub(mask, message)
    return f"{kind}{sep}{message}"


@dataclass
class ErrorGroup:
    """Trials that failed with one error (:func:`error_key`); ``example`` is the first one's first line."""

    key: str
    example: str
    trials: list[int] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.trials[0]

    def __len__(self) -> int:
        return len(self.trials)


def group_errors(trials: Iterable[Any]) -> list[ErrorGroup]:
    """Group trials (anything with ``id`` and ``error``) by :func:`error_key`: largest group first, then by
    its first trial; within a group trials keep the order given."""
    groups: dict[str, ErrorGroup] = {}
    for t in trials:
        key = error_key(t.error)
        group = groups.get(key)
        if group is None:
            group = groups[key] = ErrorGroup(key, first_line(t.error))
        group.trials.append(t.id)
    return sorted(groups.values(), key=lambda g: (-len(g), g.first))
