"""The neural pulse predictor: what it plans, what it learns from, what it refuses."""

import json
import os
import re
import warnings

import numpy as np
import pytest

from hilctl.drivers import Cells, DataError, Polarity, PulseBatch
from hilctl.drivers.pulse_table import PulseTable
from hilctl.predictor.evaluation import evaluate
from hilctl.predictor.inverse import plan_in_band
from hilctl.predictor.lookup import LookupPlanner, LookupTable
from hilctl.predictor.model import FORMAT_VERSION, Predictor
from hilctl.predictor.quantiles import PredictorRangeWarning
from hilctl.predictor.training import train_predictor
from hilctl.protocols.characterize import characterize
from hilctl.simulated_backend import SimulatedCrossbar
from tests.hilctl.gate_sweep import (
    DEVICES,
    RESET_GATE,
    SET_V,
    SET_WIDTH,
    devices,
    gate_sweep_table,
    set_level,
    set_response,
)


@pytest.fixture(scope="module")
def table() -> PulseTable:
    return characterize(SimulatedCrossbar((32, 32), seed=11), 8000, np.random.default_rng(0))


@pytest.fixture(scope="module")
def predictor(table) -> Predictor:
    return train_predictor(table, epochs=12, seed=0)


def fresh_targets(xb: SimulatedCrossbar, seed: int = 1) -> np.ndarray:
    p = xb.params
    fraction = np.random.default_rng(seed).uniform(0.1, 0.9, xb.shape[0] * xb.shape[1])
    return (p.g_min_S + fraction * (p.g_max_S - p.g_min_S)) * p.read_factor(xb.limits.read_V)


def test_plans_polarity_by_sign_and_the_knob_inside_its_trained_range(predictor, table):
    present = np.array([2e-6, 2e-6, 30e-6, 30e-6, 10e-6])
    target = np.array([20e-6, 5e-6, 10e-6, 4e-6, 10.5e-6])
    plan = predictor.plan(present, target)
    np.testing.assert_array_equal(plan.polarity, [1, 1, -1, -1, 1])
    for name, rows in (("SET", plan.polarity > 0), ("RESET", plan.polarity < 0)):
        lo, hi = predictor.spec.knob_range[name]
        assert (plan.width[rows] >= lo).all() and (plan.width[rows] <= hi).all()
        fixed = predictor.spec.fixed[name]["amplitude_V"]
        np.testing.assert_allclose(plan.amplitude[rows], fixed)
    # A larger move of the same polarity needs a longer pulse.
    assert plan.width[0] > plan.width[1] and plan.width[3] > plan.width[2]
    assert not plan.clamped[:4].any()


def test_one_shot_on_a_fresh_array_of_another_seed_lands_near_targets(predictor):
    xb = SimulatedCrossbar((32, 32), seed=99)
    cells = Cells.all(xb.shape)
    targets = fresh_targets(xb)
    plan = predictor.plan(xb.read(cells).conductance, targets)
    xb.apply(PulseBatch(cells, plan.polarity, plan.amplitude, plan.width))
    error = np.abs(xb.read(cells).conductance - targets) / targets
    assert np.mean(error <= 0.5) > 0.75
    assert np.median(error) < 0.3


def test_evaluate_reports_calibrated_quantiles_and_an_unbiased_knob(predictor):
    held_out = characterize(SimulatedCrossbar((16, 16), seed=5), 3000, np.random.default_rng(4))
    report = evaluate(predictor, held_out)
    assert report["rows"] == 3000 and report["knob"] == "width"
    switched = report["switched"]
    assert 0.65 < switched["interval_80_coverage"] < 0.92
    assert switched["g_rel_error_median"] < 0.2
    assert switched["knob_rows"] > 500
    assert abs(switched["knob_bias"]) < 0.3  # decades; a direct regression is pulled to the mean
    assert switched["rows"] + report["unswitched"]["rows"] == 3000
    json.dumps(report)


def test_save_load_round_trip_plans_identically(predictor, tmp_path):
    predictor.save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "predictor.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["knob"] == {"SET": "width", "RESET": "width"}
    assert set(meta["fixed"]) == {"SET", "RESET"} and "scaling" in meta
    assert meta["training"]["rows"] == 8000
    with np.load(tmp_path / "p" / "weights.npz", allow_pickle=False) as weights:
        assert len(weights.files) > 0
    loaded = Predictor.load(tmp_path / "p", knob="width")
    present, target = np.full(50, 3e-6), np.linspace(5e-6, 35e-6, 50)
    np.testing.assert_allclose(loaded.plan(present, target).width,
                               predictor.plan(present, target).width)


def test_loading_another_knob_or_version_or_broken_files_is_a_data_error(predictor, tmp_path):
    directory = predictor.save(tmp_path / "p")
    with pytest.raises(DataError, match="amplitude knob"):
        Predictor.load(directory, knob="amplitude")
    meta = json.loads((directory / "predictor.json").read_text())
    (directory / "predictor.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(DataError, match="version 99"):
        Predictor.load(directory)
    (directory / "predictor.json").write_text("{not json")
    with pytest.raises(DataError, match="not a predictor"):
        Predictor.load(directory)
    with pytest.raises(DataError, match="predictor.json missing"):
        Predictor.load(tmp_path / "nowhere")


def test_non_finite_weights_are_refused(predictor, tmp_path):
    directory = predictor.save(tmp_path / "p")
    with np.load(directory / "weights.npz") as stored:
        arrays = {k: stored[k] for k in stored.files}
    first = sorted(arrays)[0]
    arrays[first] = np.full_like(arrays[first], np.nan)
    np.savez(directory / "weights.npz", **arrays)
    with pytest.raises(DataError, match="does not match the checksum in predictor.json"):
        Predictor.load(directory)  # weights changed behind the description's back
    meta = json.loads((directory / "predictor.json").read_text())
    del meta["weights_sha256"]  # a folder saved before checksums: its values are still checked
    (directory / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="non-finite"):
        Predictor.load(directory)


def test_amplitude_knob_plans_amplitude_at_a_fixed_width(table):
    predictor = train_predictor(table, knob="amplitude", epochs=4)
    plan = predictor.plan(np.array([2e-6, 2e-6, 30e-6]), np.array([8e-6, 25e-6, 5e-6]))
    assert plan.amplitude[1] > plan.amplitude[0]
    np.testing.assert_allclose(plan.width[:2], predictor.spec.fixed["SET"]["width_s"])
    np.testing.assert_allclose(plan.width[2], predictor.spec.fixed["RESET"]["width_s"])
    lo, hi = predictor.spec.knob_range["SET"]
    assert lo <= plan.amplitude[:2].min() and plan.amplitude[:2].max() <= hi


def test_targets_outside_the_trained_range_warn_and_are_flagged(predictor):
    g_lo, g_hi = predictor.spec.g_range_S
    with pytest.warns(PredictorRangeWarning, match="outside"):
        plan = predictor.plan(np.array([2e-6, 2e-6]), np.array([10e-6, 3 * g_hi]))
    np.testing.assert_array_equal(plan.out_of_range, [False, True])
    assert plan.clamped[1]
    assert plan.width[1] <= predictor.spec.knob_range["SET"][1]


def test_unreachable_targets_are_clamped_not_extrapolated(predictor):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = predictor.plan(np.array([2e-6]), np.array([0.999 * predictor.spec.g_range_S[1]]))
    assert plan.clamped[0] and not plan.out_of_range[0]


def test_gate_column_is_learned_and_planned(table):
    gated = PulseTable(table.cell, table.g_before, table.polarity, table.amplitude, table.width,
                       np.full(len(table), 1.8), table.g_after)
    predictor = train_predictor(gated, epochs=2, fixed={"SET": 1.2, "RESET": 1.5})
    assert predictor.spec.fixed["SET"]["gate_V"] == pytest.approx(1.8)
    plan = predictor.plan(np.array([2e-6]), np.array([20e-6]))
    np.testing.assert_allclose(plan.gate, 1.8)


def _rows(table: PulseTable, mask) -> PulseTable:
    return table.subset(np.asarray(mask))


def test_single_polarity_is_rejected_or_planned_for_that_polarity_only(table):
    set_only = _rows(table, table.polarity == Polarity.SET)
    with pytest.raises(DataError, match="0 RESET rows.*polarities"):
        train_predictor(set_only, epochs=2)
    predictor = train_predictor(set_only, epochs=2, polarities=("SET",), fixed={"SET": 1.2})
    assert predictor.plan(np.array([2e-6]), np.array([9e-6])).polarity[0] == Polarity.SET
    with pytest.raises(DataError, match="SET pulses only"):
        predictor.plan(np.array([20e-6]), np.array([9e-6]))


@pytest.mark.parametrize("problem, words", [
    ("few", "at least 100"),
    ("one width", "barely vary the width"),
    ("partial gate", "gate_V is given on"),
    ("knob", "knob 'voltage' is unknown"),
    ("nan", "row 5: width_s must be > 0"),
    ("negative", r"row 3: g_before_S must be in \[1e-15, 1\] S"),
])
def test_tables_that_cannot_train_a_predictor(table, problem, words):
    small = _rows(table, np.arange(len(table)) < 150)
    knob = "width"
    if problem == "one width":
        small = _rows(table, np.arange(len(table)) < 2000)
        small.width[:] = 1e-6
    elif problem == "partial gate":
        small = _rows(table, np.arange(len(table)) < 2000)
        small.gate[:10] = 1.5
    elif problem == "knob":
        knob = "voltage"
    elif problem in ("nan", "negative"):  # arrays changed in memory after the table was made
        small = _rows(table, np.arange(len(table)) < 2000)
        if problem == "nan":
            small.width[4] = np.nan
        else:
            small.g_before[2] = -1e-6
    with pytest.raises(DataError, match=words):
        train_predictor(small, knob=knob, epochs=1)


@pytest.mark.parametrize("column, value, words", [
    ("g_before_S", "-1e-6", r"g_before_S must be in \[1e-15, 1\] S"),
    ("g_before_S", "1e-320", r"g_before_S must be in \[1e-15, 1\] S"),
    ("width_s", "-1e-7", "width_s must be > 0"),
    ("g_after_S", "nan", r"g_after_S must be in \[1e-15, 1\] S"),
    ("amplitude_V", "1e308", r"amplitude_V must be in \[0, 20\] V"),
])
def test_bad_csv_values_are_refused_with_the_row(table, tmp_path, column, value, words):
    path = tmp_path / "t.csv"
    _rows(table, np.arange(len(table)) < 300).write_csv(path)
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    fields = lines[3].split(",")
    fields[header.index(column)] = value
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=f"row 3: {words}"):
        PulseTable.read_csv(path)


def test_a_table_with_a_byte_order_mark_reads_as_without(table, tmp_path):
    path = tmp_path / "excel.csv"
    _rows(table, np.arange(len(table)) < 50).write_csv(path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(PulseTable.read_csv(path)) == 50


def test_a_fifo_is_refused_without_reading_it(tmp_path):
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(DataError, match="not a regular file"):
        PulseTable.read_csv(tmp_path / "pipe.csv")


@pytest.mark.parametrize("edit, words", [
    (lambda m: m["fixed"]["SET"].update(width_s="x"), "fixed.SET.width_s = 'x'"),
    (lambda m: m.update(g_range_S=m["g_range_S"][::-1]), "g_range_S = "),
    (lambda m: m["scaling"].update(lng_scale=0), "scaling.lng_scale = 0"),
    (lambda m: m["scaling"].update(y_scale=float("inf")), "scaling.y_scale = inf"),
])
def test_a_corrupt_description_is_refused_by_name(predictor, tmp_path, edit, words):
    directory = predictor.save(tmp_path / "p")
    meta = json.loads((directory / "predictor.json").read_text())
    edit(meta)
    (directory / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=re.escape(words)):
        Predictor.load(directory)


@pytest.mark.parametrize("change, words", [
    (lambda arrays: arrays.pop(sorted(arrays)[0]), "missing: "),
    (lambda arrays: arrays.update(extra=np.zeros(3)), "unexpected: extra"),
    (lambda arrays: arrays.update({sorted(arrays)[0]: np.zeros(3)}), "wrong shape: "),
])
def test_tensors_that_do_not_fit_are_one_line(predictor, tmp_path, change, words):
    directory = predictor.save(tmp_path / "p")
    with np.load(directory / "weights.npz") as stored:
        arrays = {k: stored[k] for k in stored.files}
    change(arrays)
    np.savez(directory / "weights.npz", **arrays)
    meta = json.loads((directory / "predictor.json").read_text())
    del meta["weights_sha256"]
    (directory / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match=re.escape(words)) as raised:
        Predictor.load(directory)
    assert "\n" not in str(raised.value)


def test_missing_columns_are_refused(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("cell,g_before_S,polarity,width_s,g_after_S\n0:0,1e-6,SET,1e-6,2e-6\n")
    with pytest.raises(DataError, match="missing column.*amplitude_V"):
        PulseTable.read_csv(path)


def test_a_version_1_description_loads_and_plans_as_before(predictor, tmp_path):
    directory = predictor.save(tmp_path / "p")
    meta = json.loads((directory / "predictor.json").read_text())
    old = {**meta, "format_version": 1, "knob": "width", "gate_V": None,
           "fixed": {name: f["amplitude_V"] for name, f in meta["fixed"].items()}}
    (directory / "predictor.json").write_text(json.dumps(old))
    loaded = Predictor.load(directory, knob="width")
    present, target = np.full(20, 3e-6), np.linspace(5e-6, 35e-6, 20)
    np.testing.assert_allclose(loaded.plan(present, target).width,
                               predictor.plan(present, target).width)


# -- the gate knob, on a synthetic 1T1R gate sweep (tests/hilctl/gate_sweep.py) ---------------

@pytest.fixture(scope="module")
def sweep() -> PulseTable:
    return gate_sweep_table(8000, 4000, seed=1)


@pytest.fixture(scope="module")
def gated(sweep) -> Predictor:
    return train_predictor(sweep, knob="set=gate,reset=amplitude", epochs=20, seed=0)


def test_gate_knob_plans_a_higher_gate_for_a_higher_set_target(gated):
    assert gated.spec.knob == {"SET": "gate", "RESET": "amplitude"}
    assert gated.spec.fixed["SET"] == {"amplitude_V": SET_V, "width_s": SET_WIDTH}
    targets = np.array([50e-6, 100e-6, 150e-6, 200e-6])
    plan = gated.plan(np.full(4, 5e-6), targets)
    assert (np.diff(plan.gate) > 0).all() and not plan.clamped.any()
    np.testing.assert_allclose(plan.amplitude, SET_V)
    # The planned gate is where the average device's level meets the target.
    gate = np.linspace(0.8, 1.8, 2001)
    expected = np.interp(targets, set_level(gate), gate)
    np.testing.assert_allclose(plan.gate, expected, atol=0.08)
    with pytest.raises(DataError, match="give each pulse's gate"):
        gated.quantiles(np.full(2, 5e-6), np.ones(2), np.full(2, SET_V), np.full(2, SET_WIDTH))
    reset = gated.plan(np.array([200e-6, 200e-6]), np.array([100e-6, 20e-6]))
    assert reset.amplitude[1] > reset.amplitude[0]
    np.testing.assert_allclose(reset.gate, RESET_GATE)


def test_gate_knob_predictor_saves_and_refuses_another_knob(gated, tmp_path):
    directory = gated.save(tmp_path / "g")
    loaded = Predictor.load(directory, knob="set=gate,reset=amplitude")
    plan = loaded.plan(np.full(3, 5e-6), np.array([60e-6, 120e-6, 180e-6]))
    np.testing.assert_allclose(plan.gate, gated.plan(np.full(3, 5e-6),
                                                     np.array([60e-6, 120e-6, 180e-6])).gate)
    with pytest.raises(DataError, match="plans the set=gate,reset=amplitude knob"):
        Predictor.load(directory, knob="gate")


@pytest.mark.parametrize("knob, words", [
    ("gate", "no gate_V values"),
    ("set=gate", "no knob for RESET"),
    ("set=gat,reset=width", "expected SET=<knob>"),
])
def test_gate_knob_needs_a_gate_column_and_a_knob_per_polarity(sweep, knob, words):
    table = sweep.subset(np.arange(len(sweep)))
    if knob == "gate":
        table.gate[:] = np.nan
    with pytest.raises(DataError, match=words):
        train_predictor(table, knob=knob, epochs=1)


def test_lookup_planner_picks_the_setting_whose_median_outcome_is_closest(sweep):
    table = LookupTable(sweep)
    planner = LookupPlanner(table)
    targets = np.array([60e-6, 120e-6, 180e-6, 30e-6])
    present = np.array([5e-6, 5e-6, 5e-6, 200e-6])
    plan = planner.plan(Cells(np.zeros(4, int), np.arange(4)), present, targets)
    np.testing.assert_array_equal(plan.polarity, [1, 1, 1, -1])
    assert (np.diff(plan.gate[:3]) > 0).all() and plan.gate[3] == RESET_GATE
    # By hand for the first cell: the SET gate whose rows from that state bin land closest.
    bin_rows = (sweep.polarity > 0) & (table.groups.bin_of(sweep.g_before)
                                       == table.groups.bin_of(present[:1]))
    gates = np.unique(sweep.gate[bin_rows])
    medians = [np.median(sweep.g_after[bin_rows & (sweep.gate == g)]) for g in gates]
    assert plan.gate[0] == gates[np.argmin(np.abs(np.log(medians) - np.log(60e-6)))]
    assert not plan.at_limit[:3].any()


def test_aiming_at_the_band_lands_more_cells_in_it_than_aiming_the_median(gated):
    # Near an abrupt SET threshold the gate whose median lands on the target switches too few
    # cells; the gate with the best predicted chance of landing in the band does better.
    rng = np.random.default_rng(5)
    dev, device = devices(), rng.integers(0, DEVICES, 4000)
    present = np.full(device.size, 5e-6)
    landed = {"median": 0.0, "band": 0.0}
    for target_S in (40e-6, 60e-6, 100e-6):
        target = np.full(device.size, target_S)
        for aim, plan in (("median", gated.plan(present, target)),
                          ("band", plan_in_band(gated, present, target, 0.1 * target))):
            after = set_response(device, present, plan.gate, dev, rng)
            landed[aim] += np.mean(np.abs(after - target) <= 0.1 * target)
    assert landed["band"] > landed["median"]


def test_eval_splits_switched_rows_and_scores_planners_against_hindsight(gated, sweep):
    held = gate_sweep_table(6000, 0, seed=2)
    targets = np.geomspace(30e-6, 210e-6, 7)
    report = evaluate(gated, held, LookupTable(sweep), targets)
    switched, still = report["switched"], report["unswitched"]
    assert switched["rows"] + still["rows"] == 6000 and still["rows"] > 200
    # Rows that did not switch are not the predictor's easy wins on an abrupt threshold.
    assert still["g_rel_error_median"] > switched["g_rel_error_median"]
    shot = report["one_shot"]
    assert shot["targets_S"] == pytest.approx(targets.tolist())
    for key in ("within_10pct", "within_20pct", "within_50pct"):
        ceiling = np.array(shot["hindsight"][key])
        for planner in ("neural", "lookup"):
            assert (np.array(shot[planner][key]) <= ceiling + 1e-12).all()
    # Both plan sensibly: at +-50 % they come near the ceiling.
    for planner in ("neural", "lookup"):
        assert shot[planner]["mean_within_50pct"] >= 0.8 * shot["hindsight"]["mean_within_50pct"]
    json.dumps(report)
