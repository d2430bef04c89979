"""The progress bar of a running study (tqdm's terminal or notebook form, chosen by tqdm.auto)."""
from __future__ import annotations

from typing import Any

#: The counts, ETA, rate and postfix come before the bar, so a narrow terminal (tqdm trims
#: a line from the right) or a notebook widget never loses them; with no total, tqdm
#: shows ``n/?`` and ``?`` for the ETA.
BAR_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}] {percentage:3.0f}%|{bar}|"


class Progress:
    """Counts ended trials; shows n/total, elapsed time, ETA, rate and the best score so far.

    Parameters
    ----------
    total
        Trials the study will run (``None``: unknown, e.g. a time budget only).
    desc
        The label in front of the bar (the study's name).
    enabled
        ``False`` shows nothing.
    **options
        More tqdm arguments (``file``, ``ncols``, ``mininterval``, ...); they override the
        defaults here (a given ``ncols`` turns off following the terminal's width).
    """

    def __init__(self, total: int | None, desc: str, enabled: bool = True, **options: Any) -> None:
        from tqdm.auto import tqdm

        kwargs: dict[str, Any] = {"unit": "trial", "dynamic_ncols": "ncols" not in options,
                                  "bar_format": BAR_FORMAT, "disable": not enabled, **options}
        self._bar: Any = tqdm(total=total, desc=desc, **kwargs)

    def trial_ended(self, best: float | None, running: int) -> None:
        """Count one ended trial.

        Parameters
        ----------
        best
            The best score so far (``None``: none yet).
        running
            Trials running now, as the caller counts them (the engine passes its RUNNING
            trials); shown as given.
        """
        # The postfix first, so the refresh that update() makes shows this trial's numbers.
        self._bar.set_postfix(best="-" if best is None else f"{best:.4g}", running=running, refresh=False)
        self._bar.update(1)

    def close(self) -> None:
        """Draw the final state and release the bar."""
        self._bar.close()
