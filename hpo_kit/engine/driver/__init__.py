"""The engine's driver half, in the user's process: one loop thread turns suggestions into steps and
step results into observations.

``session`` opens and closes a run; ``runner`` submits each step as a Dask task and feeds the loop;
``handler`` (the :class:`Driver`) decides; ``steps`` owns step state; ``control`` writes what the
workers must hear; ``promotion``, ``recovery`` and ``stopping`` are the driver's rung, fault and
end-of-study paths; ``resume`` restarts a study from its journal.
"""
