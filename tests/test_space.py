import math

import numpy as np
import pytest

from hpo_kit import Categorical, Goal, Integer, Real, Space, SpaceError


@pytest.mark.parametrize("dims, words", [
    ({"lr": Real(0.1, 0.01)}, ["'lr'", "low=0.1", "high=0.01"]),
    ({"lr": Real(0.1, 0.1)}, ["'lr'", "low=0.1"]),
    ({"lr": Real(0.0, 1.0, log=True)}, ["'lr'", "log", "low=0.0"]),
    ({"lr": Real(-1.0, 1.0, log=True)}, ["'lr'", "log", "low=-1.0"]),
    ({"units": Integer(8, 4)}, ["'units'", "low=8", "high=4"]),
    ({"units": Integer(0, 4, log=True)}, ["'units'", "log", "low=0"]),
    ({"units": Integer(1.5, 4)}, ["'units'", "low=1.5", "not an integer"]),
    ({"act": Categorical([])}, ["'act'", "empty"]),
    ({"act": Categorical(["a", "a"])}, ["'act'", "duplicates"]),
    ({"lr": Real(0, math.inf)}, ["'lr'", "high=inf", "not finite"]),
    ({"lr": Real("a", 1)}, ["'lr'", "low='a'", "not a number"]),
    ({"lr": (0, 1)}, ["'lr'", "(0, 1)"]),
    ({}, ["space", "non-empty"]),
])
def test_bad_space_names_field_and_value(dims, words):
    with pytest.raises(SpaceError) as err:
        Space(dims)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


SPACE = Space({"lr": Real(1e-4, 1e-1, log=True), "units": Integer(4, 256, log=True), "depth": Integer(1, 3),
               "act": Categorical(["relu", "tanh"])})


@pytest.mark.parametrize("config, words", [
    ({"lr": 0.01, "units": 8, "depth": 1, "act": "relu", "extra": 1}, ["unknown", "'extra'"]),
    ({"lr": 0.01, "units": 8, "act": "relu"}, ["missing", "'depth'"]),
    ({"lr": 0.5, "units": 8, "depth": 1, "act": "relu"}, ["lr=0.5", "outside"]),
    ({"lr": 0.01, "units": 8, "depth": 1, "act": "elu"}, ["act='elu'", "outside"]),
    ({"lr": 0.01, "units": 8.5, "depth": 1, "act": "relu"}, ["units=8.5"]),
])
def test_bad_config_names_field(config, words):
    with pytest.raises(SpaceError) as err:
        SPACE.validate(config)
    for w in words:
        assert w in str(err.value)


def test_sampling_is_seeded_and_inside():
    a = [SPACE.sample(np.random.default_rng(7)) for _ in range(3)]
    b = [SPACE.sample(np.random.default_rng(7)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    for _ in range(500):
        c = SPACE.sample(rng)
        assert SPACE.validate(c) == c
        assert type(c["units"]) is int and type(c["lr"]) is float


def test_integer_log_sampling_covers_every_value_fairly():
    space = Space({"n": Integer(1, 4, log=True)})
    rng = np.random.default_rng(0)
    counts = np.bincount([space.sample(rng)["n"] for _ in range(8000)], minlength=5)[1:]
    assert counts.min() > 0
    assert counts[0] > counts[3]  # log scale favours small values


def test_unit_cube_round_trip():
    rng = np.random.default_rng(1)
    for _ in range(200):
        c = SPACE.sample(rng)
        back = SPACE.from_unit(SPACE.to_unit(c))
        assert back["units"] == c["units"] and back["act"] == c["act"] and back["depth"] == c["depth"]
        assert math.isclose(back["lr"], c["lr"], rel_tol=1e-9)
    assert SPACE.from_unit(np.array([-3.0, 9.0, 0.5, 2.0])) == {"lr": 1e-4, "units": 256, "depth": 2, "act": "tanh"}


def test_grid_and_dict_round_trip():
    grid = list(SPACE.grid(3))
    assert len(grid) == 3 * 3 * 3 * 2
    assert Space.from_dict(SPACE.to_dict()).to_dict() == SPACE.to_dict()
    with pytest.raises(SpaceError, match="points_per_dimension=0"):
        list(SPACE.grid(0))


@pytest.mark.parametrize("kwargs, word", [({"metric": ""}, "metric"), ({"metric": "l", "mode": "up"}, "mode='up'"),
                                          ({"metric": "l", "score": "mean"}, "score='mean'")])
def test_bad_goal_names_field(kwargs, word):
    with pytest.raises(ValueError, match=word):
        Goal(**kwargs)


def test_goal_scores():
    assert Goal("l", "min").score_of([3.0, 1.0, 2.0]) == 1.0
    assert Goal("a", "max").score_of([0.1, 0.9, 0.5]) == 0.9
    assert Goal("l", "min", "last").score_of([3.0, 1.0, 2.0]) == 2.0
    assert Goal("l", "min", "last").score_of([1.0, math.nan]) is None
    assert Goal("l").score_of([math.nan, math.inf]) is None
    assert Goal("l").score_of([math.nan, 2.0]) == 2.0
