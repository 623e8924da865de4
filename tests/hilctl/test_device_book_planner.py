"""Runs that start from the device book: the neural planner's prior is what the array showed."""

import numpy as np
import pytest

from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers import Cells
from hilctl.drivers.pulse_table import PulseTable
from hilctl.predictor.planner import NeuralPlanner
from hilctl.predictor.training import train_predictor
from hilctl.protocols.characterize import characterize
from hilctl.run.device_book import DeviceBook
from hilctl.run.runner import new_run, resume_run
from hilctl.simulated_backend import DeviceParams, SimulatedCrossbar

SHAPE = (16, 16)


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory):
    """A predictor of the hfox-1r cell, trained on a sibling array (seed 21)."""
    table = characterize(SimulatedCrossbar((24, 24), DeviceParams(), seed=21), 3000,
                         np.random.default_rng(0))
    directory = tmp_path_factory.mktemp("predictor")
    train_predictor(table, epochs=100, seed=0).save(directory)
    return directory


@pytest.fixture(scope="module")
def sibling_table(tmp_path_factory):
    """The sibling array's characterization as a CSV, the lookup planner's table."""
    table = characterize(SimulatedCrossbar((24, 24), DeviceParams(), seed=21), 6000,
                         np.random.default_rng(1))
    path = tmp_path_factory.mktemp("lookup") / "table.csv"
    table.write_csv(path)
    return path


def config(predictor_dir, protocol: str, book=None, tolerance: float = 0.02,
           planner: str = "neural"):
    return build_config({
        "array": {"rows": SHAPE[0], "cols": SHAPE[1], "seed": 5, "preset": "hfox-1r"},
        "protocol": {"name": protocol, "predictor": str(predictor_dir), "tolerance": tolerance,
                     "planner": planner},
        "targets": {"seed": 3},
        "device_book": {"path": book and str(book)}})


def targets(seed: int) -> np.ndarray:
    p = DeviceParams()
    fraction = np.random.default_rng(seed).uniform(0.1, 0.9, SHAPE)
    return (p.g_min_S + fraction * (p.g_max_S - p.g_min_S)) * p.read_factor(0.2)


def within(run_dir, goal: np.ndarray, band: float) -> float:
    final = np.load(run_dir / "conductance.npy")
    return float(np.mean(np.abs(final - goal) / goal <= band))


@pytest.mark.slow
def test_a_book_of_one_earlier_run_lands_more_cells_in_one_shot(predictor_dir, tmp_path):
    book = tmp_path / "array.book"
    first = new_run(Job(config(predictor_dir, "write-verify-planned", book)), tmp_path / "wv",
                    targets(1))
    assert first.summary["device_book_updated"]
    goal = targets(2)
    new_run(Job(config(predictor_dir, "one-shot")), tmp_path / "without", goal)
    new_run(Job(config(predictor_dir, "one-shot", book)), tmp_path / "with", goal)
    # The book's shift moves every device's first pulse: fewer far misses, more close hits.
    assert within(tmp_path / "with", goal, 0.5) > within(tmp_path / "without", goal, 0.5) + 0.05
    assert within(tmp_path / "with", goal, 0.1) > within(tmp_path / "without", goal, 0.1)
    with DeviceBook(book) as stored:
        assert stored.run_count() == 2
        pulses = stored.arrays()["pulses"]
    # The write-verify run's pulses and the one-shot's one per cell (its block RESET is no look).
    assert pulses.sum() == first.result.pulses.sum() + goal.size


def test_a_seeded_planner_plans_as_the_one_whose_belief_it_took(predictor_dir):
    from hilctl.predictor.model import Predictor

    predictor = Predictor.load(predictor_dir)
    xb = SimulatedCrossbar(SHAPE, DeviceParams(), seed=4)
    cells = Cells.all(SHAPE)
    learner = NeuralPlanner(predictor, SHAPE)
    present, goal = xb.read(cells).conductance, targets(1).ravel()
    planned = learner.plan(cells, present, goal)
    from hilctl.drivers import PulseBatch

    xb.apply(PulseBatch(cells, planned.polarity, planned.amplitude, planned.width))
    after = xb.read(cells).conductance
    learner.observe(cells, planned, present, after)
    seeded = NeuralPlanner(predictor, SHAPE)
    seeded.seed_belief(cells, *learner.belief(cells))
    # The lasting belief (the looks of pulses that moved their device) is what it took.
    lasting = learner.belief(cells)[0]
    np.testing.assert_allclose(seeded.shift(), lasting, rtol=1e-12, atol=1e-12)
    half = NeuralPlanner(predictor, SHAPE)
    half.seed_belief(cells, *learner.belief(cells), keep=0.5)
    moved = lasting[1] != 0
    assert moved.mean() > 0.9
    assert (np.abs(half.shift()[1][moved]) < np.abs(lasting[1][moved])).all()


def test_a_resumed_run_updates_the_book_once(predictor_dir, tmp_path):
    book = tmp_path / "array.book"
    cfg = config(predictor_dir, "write-verify-planned", book, tolerance=0.05)
    new_run(Job(cfg), tmp_path / "run", targets(1))
    again = resume_run(tmp_path / "run")  # nothing left to do: the book has this run already
    assert again.summary["device_book_updated"] is False
    with DeviceBook(book) as stored:
        assert stored.run_count() == 1


def test_characterizing_into_a_book_teaches_it_every_device(predictor_dir, tmp_path):
    from hilctl.run.book_link import characterize_into_book

    book = tmp_path / "array.book"
    cfg = config(predictor_dir, "one-shot", book)
    table, booked, shape = characterize_into_book(Job(cfg), 2, np.random.default_rng(0))
    assert booked["device_book_updated"] and shape == SHAPE
    assert len(table) == 2 * SHAPE[0] * SHAPE[1]  # the table still trains a predictor
    with DeviceBook(book) as stored:
        arrays = stored.arrays()
    # Two looks per device: nearly always one SET (from the fresh low state) and one RESET;
    # a SET that landed below the second, lower target is followed by another SET.
    assert (arrays["pulses"].sum(axis=0) == 2).all()
    assert (arrays["pulses"] == 1).all(axis=0).mean() > 0.95
    healthy = SimulatedCrossbar(SHAPE, DeviceParams(), seed=5).population.stuck == 0
    assert (arrays["information"][1][healthy] > 0).mean() > 0.95


def test_a_one_shot_run_teaches_the_book_its_single_pulse(predictor_dir, tmp_path):
    book = tmp_path / "array.book"
    new_run(Job(config(predictor_dir, "one-shot", book)), tmp_path / "shot", targets(1))
    with DeviceBook(book) as stored:
        arrays = stored.arrays()
    healthy = SimulatedCrossbar(SHAPE, DeviceParams(), seed=5).population.stuck == 0
    # From the block RESET's low state every target is a SET: one look at each device.
    assert (arrays["pulses"][1] == 1).all()
    assert (arrays["information"][1][healthy] > 0).mean() > 0.95
    assert np.std(arrays["shift"][1][healthy]) > 0


def test_a_pulse_that_switched_nothing_steers_the_run_but_not_the_book(predictor_dir):
    from hilctl.predictor.model import Predictor
    from hilctl.protocols.planner import PlannedPulses

    predictor = Predictor.load(predictor_dir)
    cells = Cells.all((1, 2))
    planner = NeuralPlanner(predictor, (1, 2))
    before = np.full(2, 5e-6)
    planned = planner.plan(cells, before, np.full(2, 40e-6))
    assert (planned.polarity > 0).all()
    # Cell 0 did not switch (read as before, within the read noise); cell 1 rose to 20 uS.
    after = np.array([5.02e-6, 20e-6])
    planner.observe(cells, PlannedPulses(planned.polarity, planned.amplitude, planned.width,
                                         planned.at_limit), before, after)
    shift, information = planner.belief(cells)
    assert planner.shift()[1, 0] < 0  # the run plans a stronger next pulse for cell 0 ...
    assert shift[1, 0] == 0 and information[1, 0] == 0  # ... but the book learns nothing
    assert shift[1, 1] < 0 and information[1, 1] > 0  # a slow device's look is kept
    np.testing.assert_allclose(shift[1, 1], planner.shift()[1, 1])


def test_the_lookup_planner_moves_each_devices_setting_by_its_book_shift(sibling_table):
    from hilctl.predictor.lookup import LookupPlanner

    planner = LookupPlanner.from_csv(sibling_table)
    cells = Cells.all((1, 3))
    present, goal = np.full(3, 5e-6), np.full(3, 20e-6)
    plain = planner.plan(cells, present, goal)
    # Device 0 answers like twice the width (a fast device), device 1 is unknown, device 2
    # would need a width far beyond what the table holds.
    planner.follow_book(cells, (1, 3), np.array([[0.0, 0.0, 0.0], [np.log(2), 0.0, -50.0]]),
                        1.0, ["width", "width"])
    booked = planner.plan(cells, present, goal)
    assert (booked.polarity == plain.polarity).all() and (plain.polarity > 0).all()
    np.testing.assert_allclose(booked.width[:2], [plain.width[0] / 2, plain.width[1]])
    np.testing.assert_array_equal(booked.amplitude, plain.amplitude)
    groups = planner.table.groups  # kept to the longest SET width the table holds
    assert booked.width[2] == groups.settings[groups.polarity > 0, 1].max()
    assert booked.width[2] <= PulseTable.read_csv(sibling_table).width.max()


def test_a_lookup_one_shot_from_a_book_lands_more_cells(predictor_dir, sibling_table,
                                                        tmp_path):
    from hilctl.run.book_link import characterize_into_book

    book = tmp_path / "array.book"
    characterize_into_book(Job(config(predictor_dir, "one-shot", book)), 4,
                           np.random.default_rng(0))
    goal = targets(2)
    lookup = {"planner": "lookup"}
    for name, path in (("without", None), ("with", book)):
        cfg = config(sibling_table, "one-shot", path, **lookup)
        new_run(Job(cfg), tmp_path / name, goal)
    assert within(tmp_path / "with", goal, 0.5) > within(tmp_path / "without", goal, 0.5) + 0.03
    assert within(tmp_path / "with", goal, 0.1) > within(tmp_path / "without", goal, 0.1)
