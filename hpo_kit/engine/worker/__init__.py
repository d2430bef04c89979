"""The engine's worker half, in each Dask worker process: one step of one trial (``step``), its
reporter and outbox, the trials kept alive at a rung (``kept``), the run's context there
(``context``) and its checkpoint writes (``writer``)."""
from .step import StepResult, StepSpec, load_data, run_step

__all__ = ["StepResult", "StepSpec", "load_data", "run_step"]
