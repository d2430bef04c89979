"""The checks of a Study's settings, each raising an error that names the field and the value.

Run in :class:`~hpo_kit.study.Study`'s constructor, before anything is created. Types are
checked before comparisons (``trial_timeout='10'`` is a named error, not a TypeError from
``>``), and bools are not integers (``n_trials=True`` is refused).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .decisions import check_int


def check_seconds(field: str, value: Any) -> None:
    """``None`` or a number of seconds > 0."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
        raise ValueError(f"Study: {field}={value!r} must be a number of seconds > 0")


def check_settings(*, n_trials: Any, max_epochs: Any, concurrency: Any, n_workers: Any, prefetch: Any,
                   max_retries: Any, checkpoint_every: Any, keep_paused: Any, fail_fast: Any, time_budget: Any,
                   trial_timeout: Any, warmup_timeout: Any,
                   resource_wait: Any, on_flag: Any, on_interrupted: Any, data: Any, resources: Any, name: Any,
                   trainable: bool) -> dict[str, float] | None:
    """Check every setting; returns ``resources`` as a plain dict (or ``None``).

    Raises
    ------
    ValueError, TypeError
        Naming the first bad field and its value.
    """
    for field, value, low in (("n_trials", n_trials, 1), ("max_epochs", max_epochs, 1),
                              ("concurrency", concurrency, 1), ("n_workers", n_workers, 1),
                              ("prefetch", prefetch, 0)):
        check_int("Study", field, value, low)
    check_int("Study", "max_retries", max_retries, 0, optional=False)
    check_int("Study", "checkpoint_every", checkpoint_every, 1, optional=False)
    check_int("Study", "keep_paused", keep_paused, 0, optional=False)
    check_int("Study", "fail_fast", fail_fast, 0)
    check_seconds("time_budget", time_budget)
    check_seconds("trial_timeout", trial_timeout)
    check_seconds("warmup_timeout", warmup_timeout)
    check_seconds("resource_wait", resource_wait)
    if on_flag not in ("stop", "flag", "off"):
        raise ValueError(f"Study: on_flag={on_flag!r} must be 'stop', 'flag' or 'off'")
    if on_interrupted not in ("resume", "fail"):
        raise ValueError(f"Study: on_interrupted={on_interrupted!r} must be 'resume' or 'fail'")
    if data is not None and not callable(data):
        raise TypeError(f"Study: data={data!r} must be a zero-argument loader (a function), not the data")
    if resources is not None:
        if not isinstance(resources, Mapping) or not resources or not all(
                isinstance(k, str) and not isinstance(v, bool) and isinstance(v, (int, float)) and v > 0
                for k, v in resources.items()):
            raise ValueError(f"Study: resources={resources!r} must map resource names to amounts > 0, "
                             f"e.g. {{'GPU': 0.25}}")
        resources = dict(resources)
    if trainable and max_epochs is None:
        raise ValueError("Study: max_epochs is required for a Trainable objective")
    if name is not None and (not isinstance(name, str) or not name or "/" in name or "\\" in name
                             or name.startswith(".")):
        raise ValueError(f"Study: name={name!r} must be a non-empty file name (no path separators, no leading '.')")
    return resources


def study_seed(seed: Any) -> int:
    """The study's seed: ``seed`` checked, or a fresh one from the OS's entropy for ``None``.

    Fresh by default, as Optuna's samplers are: two studies over one space must not draw the
    same configurations. The seed is journalled, so a resume and a replay use it again.

    Raises
    ------
    ValueError
        For anything but ``None`` or an integer >= 0 (bools included).
    """
    if seed is None:
        return int.from_bytes(os.urandom(4), "little")  # 32 bits: short enough to read off a journal and type back
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"Study: seed={seed!r} must be None (a fresh seed) or an integer >= 0")
    return int(seed)
