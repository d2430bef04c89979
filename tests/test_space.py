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


# -- fault-injection regressions ------------------------------------------------------------
@pytest.mark.parametrize("dims, words", [
    ({"x": Real(True, 2)}, ["'x'", "low=True", "not a number"]),
    ({"x": Real(0, np.True_)}, ["'x'", "high=np.True_", "not a number"]),
    ({"n": Integer(0, True)}, ["'n'", "high=True", "not an integer"]),
    ({"n": Integer(False, 3)}, ["'n'", "low=False", "not an integer"]),
    ({"n": Integer(0, 10 ** 400)}, ["'n'", "high=1000", "int64"]),
    ({"n": Integer(-(2 ** 63) - 1, 0)}, ["'n'", f"low={-(2 ** 63) - 1}", "int64"]),
    ({"x": Real(0, 10 ** 400)}, ["'x'", "high=1000", "float64"]),
    ({"x": Real(10 ** 18, 10 ** 18 + 1)}, ["'x'", "float64"]),  # distinct ints, one float
    ({"x": Real(1e18, 1e18 + 256, log=True)}, ["'x'", "log scale", "high=1.0000000000000003e+18"]),
    ({"c": Categorical([1, 1.0])}, ["'c'", "duplicate", "1 and 1.0"]),
    ({"c": Categorical([True, 1])}, ["'c'", "duplicate", "True and 1"]),
    ({"c": Categorical(["a", 0, False])}, ["'c'", "duplicate", "0 and False"]),
    ({"c": Categorical([math.nan, float("nan")])}, ["'c'", "duplicate"]),
    ({"c": Categorical([np.zeros(2), np.ones(2)])}, ["'c'", "cannot be compared"]),
])
def test_fault_injected_spaces_are_refused_naming_field_and_value(dims, words):
    with pytest.raises(SpaceError) as err:  # a ValueError, as the API promises
        Space(dims)
    assert isinstance(err.value, ValueError)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_distinct_choices_of_mixed_types_are_kept():
    dim = Space({"c": Categorical([1, "1", 2.5, None, (1, 2), [3]])})["c"]
    assert dim.to_unit("1") == pytest.approx(1.5 / 6)


@pytest.mark.parametrize("dim", [Real(0.0, 2.0), Integer(0, 2)])
def test_bool_is_not_a_numeric_value(dim):
    space = Space({"x": dim})
    for value in (True, False, np.True_):
        with pytest.raises(SpaceError, match=r"x=(np\.)?(True|False)"):
            space.validate({"x": value})
    assert space.validate({"x": 1}) == {"x": 1}


def test_integer_with_large_bounds_samples_every_value_and_round_trips_exactly():
    low = 10 ** 18
    for log in (False, True):
        space = Space({"n": Integer(low, low + 3, log=log)})
        rng = np.random.default_rng(0)
        seen = {space.sample(rng)["n"] for _ in range(200)}
        assert len(seen) >= 3 and seen <= set(range(low, low + 4)), (log, seen)
        assert all(type(v) is int for v in seen)
        for v in range(low, low + 4):
            assert space.from_unit(space.to_unit({"n": v})) == {"n": v}
        assert space["n"].grid(4) == list(range(low, low + 4))


def test_integer_at_the_int64_limits_samples_inside():
    space = Space({"n": Integer(-(2 ** 63), 2 ** 63 - 1)})
    rng = np.random.default_rng(3)
    values = [space.sample(rng)["n"] for _ in range(200)]
    assert all(type(v) is int and -(2 ** 63) <= v <= 2 ** 63 - 1 for v in values)
    assert min(values) < 0 < max(values)
    assert space.from_unit(np.array([0.0])) == {"n": -(2 ** 63)}
    assert space.from_unit(np.array([1.0])) == {"n": 2 ** 63 - 1}


def test_linear_integer_sampling_is_uniform():
    space = Space({"n": Integer(0, 3)})
    rng = np.random.default_rng(5)
    counts = np.bincount([space.sample(rng)["n"] for _ in range(8000)], minlength=4)
    assert counts.min() > 1800 and counts.max() < 2200  # 2000 each; std ~39


def test_real_whose_span_overflows_samples_both_signs_and_round_trips():
    space = Space({"x": Real(-1e308, 1e308)})
    rng = np.random.default_rng(0)
    values = [space.sample(rng)["x"] for _ in range(200)]
    assert all(math.isfinite(v) and -1e308 <= v <= 1e308 for v in values)
    assert len(set(values)) > 100 and min(values) < 0 < max(values)
    for v in values[:20]:
        assert math.isclose(space.from_unit(space.to_unit({"x": v}))["x"], v, rel_tol=1e-9, abs_tol=1e293)
    assert space.to_unit({"x": 0.0}) == pytest.approx([0.5])
    assert space["x"].grid(3) == [-1e308, 0.0, 1e308]


def test_log_real_sampling_stays_log_uniform():
    space = Space({"lr": Real(1e-4, 1e-1, log=True)})
    rng = np.random.default_rng(11)
    lows = sum(space.sample(rng)["lr"] < 1e-3 for _ in range(4000))
    assert abs(lows / 4000 - 1 / 3) < 0.03
