"""The progress bar of a running study (tqdm's terminal or notebook form, chosen by tqdm.auto)."""
from __future__ import annotations

from typing import Any


class Progress:
    """Counts ended trials; shows the best score so far."""

    def __init__(self, total: int | None, desc: str, enabled: bool = True) -> None:
        from tqdm.auto import tqdm

        self._bar: Any = tqdm(total=total, desc=desc, unit="trial", disable=not enabled, dynamic_ncols=True)

    def trial_ended(self, best: float | None, running: int) -> None:
        self._bar.update(1)
        self._bar.set_postfix(best="-" if best is None else f"{best:.4g}", running=running, refresh=False)

    def close(self) -> None:
        self._bar.close()
