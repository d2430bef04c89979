"""The panel's list of live trials to kill: one toggle per trial, so a click can never name another trial.

A ``SelectMultiple`` syncs the *positions* of the chosen rows. Its options change every
time a trial starts or ends (each redraw), so a position chosen in the browser could
reach the kernel after the list changed there and name the trial that moved into that
row: "Kill selected" killed trial 14 when trial 12 was clicked, and a browser that got
an index past its own options failed ("Cannot set properties of undefined (setting
'selected')"). Here each live trial has its own ``ToggleButton``; a click is a change of
that widget, so it names that trial whatever else changed meanwhile, and a trial that
ended takes its button with it.
"""
from __future__ import annotations

import threading
from typing import Any


class TrialPicker:
    """Toggle buttons for the live trials; ``.widget`` to display, :meth:`selected` to read.

    Parameters
    ----------
    W
        The ``ipywidgets`` module (imported by the panel).
    """

    def __init__(self, W: Any) -> None:
        self._W = W
        self._lock = threading.Lock()  # redraws (the view's thread) and clicks (the kernel's) both read the map
        self._toggles: dict[int, Any] = {}
        self._disabled = False
        self.widget = W.Box(layout=W.Layout(flex_flow="row wrap", align_content="flex-start", width="420px",
                                            max_height="96px", overflow_y="auto"))
        self.widget.add_class("hpo-select")

    def selected(self) -> list[int]:
        """The ids of the trials toggled on, ascending."""
        with self._lock:
            return sorted(tid for tid, w in self._toggles.items() if w.value)

    def clear(self, ids: list[int]) -> None:
        """Toggle these trials off (after their kill was sent)."""
        with self._lock:
            for tid in ids:
                if tid in self._toggles:
                    self._toggles[tid].value = False

    def show(self, live: list[int], disabled: bool) -> None:
        """One toggle per trial in ``live`` (new ones added, ended ones removed); all off if ``disabled``."""
        with self._lock:
            gone = [tid for tid in self._toggles if tid not in live]
            new = [tid for tid in live if tid not in self._toggles]
            for tid in gone:
                self._toggles.pop(tid).close()
            for tid in new:
                w = self._W.ToggleButton(description=str(tid), tooltip=f"trial {tid}", disabled=disabled,
                                         layout=self._W.Layout(width="auto", min_width="42px", margin="1px"))
                w.add_class("hpo-trial-toggle")
                w.add_class(f"hpo-trial-{tid}")
                self._toggles[tid] = w
            if disabled != self._disabled:
                for w in self._toggles.values():
                    w.disabled = disabled
                self._disabled = disabled
            if gone or new:
                self.widget.children = [self._toggles[tid] for tid in sorted(self._toggles)]

    @property
    def disabled(self) -> bool:
        return self._disabled
