"""Weights that flow from one trial to another: what must hold, and what to say when it does not.

Hypersearch (and any policy that starts a trial from another's weights, ``Start(parent=h)``)
needs two things the policy itself cannot check, since it never sees the objective or the
weights:

* **A stateful objective.** Only a :class:`~hpo_kit.Trainable` keeps weights between steps. A
  function-form objective ``objective(config, reporter)`` keeps none, so every "copy" would train
  from scratch and Hypersearch would silently become a worse random search (a copy at ``k``
  epochs ranked against ``h`` at ``2k``). :func:`check_objective` *refuses* that pairing with a
  ``TypeError`` saying what to write instead (refused rather than warned about: no run of it
  measures what the user asked for). A policy declares the need with a class attribute
  ``copies_weights = True`` (:class:`~hpo_kit.schedulers.Hypersearch` does).
* **A state that fits the copy's configuration.** A neighbour that changed a dimension which
  shapes the network or its optimizer state (width, depth, ``optimizer`` adam -> sgd) cannot
  take ``h``'s state: torch raises ``size mismatch for 0.weight`` at ``load_state_dict``, or a
  bare ``KeyError: 'momentum'`` at the first ``opt.step()`` (an Adam parameter group loaded into
  SGD has no ``momentum``). :func:`explain_load_error` turns such an error into an
  :class:`InheritError` naming the dimensions that differ from the parent's configuration, the
  likely culprits first, and the ``inherit=`` that fixes it. The worker calls it for an error of
  ``load_state_dict(parent_state)``, and for an error in the first epoch after that load when
  :func:`looks_like_state_mismatch` says so (a genuine bug of the objective keeps its own error);
  both are pure functions of the error and the configurations, tested without a cluster.

Which differing dimensions are "likely": those whose values are not floats (categorical
choices, integers, booleans: the kind that change a layer's shape or the optimizer's class).
A float such as ``lr`` changes a number inside the state, never its structure, so floats are
listed after them, and named only when nothing else differs.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class InheritError(ValueError):
    """A trial could not continue from its parent's weights: its configuration changed their shape."""

    def __init__(self, message: str, dimensions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        #: The dimensions to put in ``inherit``, likely ones first.
        self.dimensions = dimensions


def differing(config: Mapping[str, Any], parent_config: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Dimensions whose value differs between the two configurations: (likely, floats), each sorted.

    A key missing on one side differs. ``likely`` are the non-float ones (see the module docstring).
    """
    likely, floats = [], []
    for name in sorted(set(config) | set(parent_config)):
        a, b = config.get(name), parent_config.get(name)
        if a == b and type(a) is type(b):
            continue
        (floats if isinstance(a, float) and isinstance(b, float) else likely).append(name)
    return likely, floats


#: Words of torch's errors when a state does not fit a module or optimizer (``load_state_dict``, ``step``).
_MISMATCH = ("size mismatch", "missing key", "unexpected key", "parameter group", "doesn't match", "does not match",
             "shape", "state_dict")


def looks_like_state_mismatch(exc: BaseException) -> bool:
    """Whether ``exc`` reads like a state that does not fit (for an error in the first epoch after a
    copy, where a genuine bug of the objective is possible too): a ``KeyError`` (an optimizer state
    missing a hyperparameter, torch's ``KeyError: 'momentum'``), or a ``RuntimeError``/``ValueError``/
    ``IndexError`` whose message names sizes, keys, shapes or parameter groups."""
    if isinstance(exc, KeyError):
        return True
    if isinstance(exc, (RuntimeError, ValueError, IndexError)):
        text = str(exc).lower()
        return any(word in text for word in _MISMATCH)
    return False


def explain_load_error(exc: BaseException, config: Mapping[str, Any], parent_config: Mapping[str, Any], *,
                       trial_id: int | None = None, parent_id: int | None = None) -> InheritError:
    """An :class:`InheritError` explaining ``exc``, raised while a trial took its parent's state.

    Call it for an error from ``load_state_dict(parent_state)`` or from the first epoch after it,
    and raise the result ``from exc`` (the original error and its traceback stay attached).

    Parameters
    ----------
    exc
        The error (e.g. torch's ``RuntimeError: size mismatch ...`` or ``KeyError: 'momentum'``).
    config, parent_config
        The trial's configuration and its parent's (the one whose weights were loaded).
    trial_id, parent_id
        Named in the message when given.

    Returns
    -------
    InheritError
        Its message quotes ``exc``, lists each differing dimension with both values, and names the
        ``inherit=`` to set; ``.dimensions`` holds the names. When the configurations do not differ
        the message says so (the state does not fit for another reason).
    """
    likely, floats = differing(config, parent_config)
    who = "this trial" if trial_id is None else f"trial {trial_id}"
    parent = "its parent" if parent_id is None else f"its parent (trial {parent_id})"
    cause = f"{type(exc).__name__}: {exc}"
    if not likely and not floats:
        return InheritError(f"{who} could not continue from the weights of {parent} ({cause}); its configuration "
                            f"equals the parent's, so the state does not fit for a reason outside the search space")
    changes = ", ".join(f"{n}: {parent_config.get(n)!r} -> {config.get(n)!r}" for n in [*likely, *floats])
    names = tuple(likely or floats)
    return InheritError(
        f"{who} could not continue from the weights of {parent} ({cause}). Its configuration differs in {changes}; "
        f"a dimension that shapes the network or its optimizer state must be copied from the parent: "
        f"Hypersearch(inherit={names!r})", names)


def check_objective(objective: Any, policy: Any) -> None:
    """Refuse a function-form objective under a policy that copies weights between trials.

    Call it where the study is made (``Study(...)``), with the objective and the resolved policy.

    Raises
    ------
    TypeError
        If ``policy`` declares ``copies_weights`` and ``objective`` is not a
        :class:`~hpo_kit.Trainable` subclass.
    """
    from .trainable import Trainable

    if not getattr(policy, "copies_weights", False):
        return
    if isinstance(objective, type) and issubclass(objective, Trainable):
        return
    name = getattr(objective, "__name__", repr(objective))
    raise TypeError(
        f"{type(policy).__name__} starts new trials from the best trial's weights, but the objective {name!r} is a "
        f"function: a function-form trial keeps no weights, so every copy would train from scratch. Write it as a "
        f"hpo_kit.Trainable subclass (setup, train_epoch, state_dict, load_state_dict; hpo_kit.TorchTrainable "
        f"for a torch model and optimizer), or use a policy that does not copy weights (e.g. optimizer='asha').")
