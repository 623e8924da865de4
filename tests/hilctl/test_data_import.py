"""Importing a lab's measurements: units, polarity, layouts, the report, and bad input."""

from pathlib import Path

import numpy as np
import pytest

from hilctl.data.table_import import Mapping, header_unit, import_table, load_mapping
from hilctl.drivers import ConfigError, DataError
from hilctl.drivers.pulse_table import PulseTable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "crosssim"
TRAIN_MAPPING = dict(layout="pulse-train", measure="current", units={"measure": "A"},
                     read_voltage_V=0.1, pulse={1: (1.2, 100e-9), -1: (1.5, 100e-9)})


def _write(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _lab_rows(n: int = 24) -> list[str]:
    """Alternating SET (+1.2 V) / RESET (-1.4 V) pulses in ns, resistances in kOhm."""
    rows = []
    for i in range(n):
        sign = 1 if i % 2 == 0 else -1
        before = 40.0 - i * 0.5
        rows.append(f"d{i % 3},{before},{before - sign * 2.0},{sign * 1.2 if sign > 0 else -1.4},"
                    f"{100 + 10 * i}")
    return rows


def test_resistance_in_kohm_and_width_in_ns_become_siemens_and_seconds(tmp_path):
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns",
                  _lab_rows())
    mapping = Mapping(columns={"cell": "device", "before": "R_pre_kOhm", "after": "R_post_kOhm",
                               "amplitude": "V_pulse", "width": "t_pulse_ns"})
    table = import_table([(path, None)], mapping, min_rows=10).table
    assert len(table) == 24
    assert table.g_before[0] == pytest.approx(1 / 40e3)
    assert table.width[1] == pytest.approx(110e-9)
    np.testing.assert_array_equal(table.polarity[:2], [1, -1])
    np.testing.assert_allclose(table.amplitude[:2], [1.2, 1.4])
    assert set(table.cell) == {"d0", "d1", "d2"}


def test_polarity_column_and_gate_column_for_1t1r_cells(tmp_path):
    rows = [f"c{i % 2},{10 + i},{12 + i},{'SET' if i % 2 else 'reset'},1.1,2e-7,1.4"
            for i in range(22)]
    path = _write(tmp_path / "lab.csv", "cell,G_before_uS,G_after_uS,kind,amp_V,width_s,Vg_V", rows)
    mapping = Mapping(columns={"cell": "cell", "before": "G_before_uS", "after": "G_after_uS",
                               "polarity": "kind", "amplitude": "amp_V", "width": "width_s",
                               "gate": "Vg_V"})
    table = import_table([(path, None)], mapping, min_rows=10).table
    assert table.g_after[0] == pytest.approx(12e-6)
    np.testing.assert_array_equal(table.polarity[:2], [-1, 1])
    np.testing.assert_allclose(table.gate, 1.4)


def test_read_current_needs_and_uses_the_read_voltage(tmp_path):
    rows = [f"{1e-5 * (1 + i / 100)},{1.1e-5 * (1 + i / 100)},1.0,1e-6" for i in range(20)]
    path = _write(tmp_path / "lab.csv", "I_before_A,I_after_A,V,w_us", rows)
    mapping = Mapping(columns={"before": "I_before_A", "after": "I_after_A", "amplitude": "V",
                               "width": "w_us"}, units={"width": "us"})
    with pytest.raises(ConfigError, match="read voltage"):
        import_table([(path, None)], mapping)
    table = import_table([(path, None)], mapping.merged(read_voltage_V=0.2)).table
    assert table.g_before[0] == pytest.approx(5e-5)
    assert table.width[0] == pytest.approx(1e-12)  # '1e-6' us


def test_pulse_train_fixture_pairs_consecutive_reads_and_ignores_ragged_ends():
    report = import_table([(FIXTURES / "set_sample.csv", 1), (FIXTURES / "reset_sample.csv", -1)],
                          Mapping(**TRAIN_MAPPING))
    table = report.table
    set_rows = table.polarity == 1
    # train rmp1 of the sample holds 40 reads -> 39 pulses; G = I / 0.1 V
    first = table.subset(np.flatnonzero(table.cell == "set_sample:rmp1"))
    assert len(first) == 39
    np.testing.assert_allclose(first.g_after[:-1], first.g_before[1:])
    assert 1.5e-3 < table.g_before.min() and table.g_after.max() < 2.6e-3
    assert np.all(table.amplitude[set_rows] == 1.2) and np.all(table.width == 100e-9)
    assert np.unique(table.cell).size == 12
    assert report.dropped == {}
    text = "\n".join(report.lines())
    assert "SET:" in text and "RESET:" in text and "cells: 12" in text


def test_a_gap_inside_a_train_drops_the_pairs_around_it_and_says_so(tmp_path):
    values = [f"{2e-4 + i * 1e-7}" for i in range(30)]
    values[10] = ""
    path = _write(tmp_path / "train.csv", "t1", values)
    report = import_table([(path, 1)], Mapping(**TRAIN_MAPPING), min_rows=5)
    assert len(report.table) == 27
    [(reason, where)] = report.dropped.items()
    assert "gap" in reason and len(where) == 2 and "t1 row 10" in where[0]


def test_pulse_train_without_stated_pulse_is_a_config_error():
    mapping = Mapping(**{**TRAIN_MAPPING, "pulse": {1: (1.2, 1e-7)}})
    with pytest.raises(ConfigError, match="--amplitude RESET="):
        import_table([(FIXTURES / "reset_sample.csv", -1)], mapping)


def test_header_and_mapping_units_that_contradict_are_refused(tmp_path):
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns",
                  _lab_rows())
    mapping = Mapping(columns={"cell": "device", "before": "R_pre_kOhm", "after": "R_post_kOhm",
                               "amplitude": "V_pulse", "width": "t_pulse_ns"},
                      units={"measure": "Ohm"})
    with pytest.raises(ConfigError, match="R_pre_kOhm.*kOhm.*Ohm"):
        import_table([(path, None)], mapping)


def test_before_and_after_in_different_quantities_are_refused(tmp_path):
    path = _write(tmp_path / "lab.csv", "R_pre_kOhm,G_post_uS,V,w_ns", ["10,90,1,100"] * 20)
    mapping = Mapping(columns={"before": "R_pre_kOhm", "after": "G_post_uS", "amplitude": "V",
                               "width": "w_ns"})
    with pytest.raises(ConfigError, match="units contradict"):
        import_table([(path, None)], mapping)


def test_zero_or_negative_resistance_names_the_rows(tmp_path):
    rows = _lab_rows()
    rows[3] = "d0,0,38,1.2,100"
    rows[7] = "d1,-5,38,1.2,100"
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns", rows)
    mapping = Mapping(columns={"cell": "device", "before": "R_pre_kOhm", "after": "R_post_kOhm",
                               "amplitude": "V_pulse", "width": "t_pulse_ns"})
    with pytest.raises(DataError, match=r"R_pre_kOhm.*zero or negative resistance.*4, 8"):
        import_table([(path, None)], mapping)


def test_mapping_that_names_a_missing_column_lists_the_real_ones(tmp_path):
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns",
                  _lab_rows())
    mapping = Mapping(columns={"before": "R_before", "after": "R_post_kOhm"})
    with pytest.raises(ConfigError, match="'R_before'.*device, R_pre_kOhm"):
        import_table([(path, None)], mapping)


def test_too_few_rows_to_condition_on_is_a_data_error(tmp_path):
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns",
                  _lab_rows(10))
    mapping = Mapping(columns={"before": "R_pre_kOhm", "after": "R_post_kOhm",
                               "amplitude": "V_pulse", "width": "t_pulse_ns"})
    with pytest.raises(DataError, match="only 5 SET rows; at least 20"):
        import_table([(path, None)], mapping)


def test_empty_measurements_are_dropped_and_reported(tmp_path):
    rows = _lab_rows(44)
    rows[5] = "d2,,38,1.2,100"
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns", rows)
    mapping = Mapping(columns={"before": "R_pre_kOhm", "after": "R_post_kOhm",
                               "amplitude": "V_pulse", "width": "t_pulse_ns"})
    report = import_table([(path, None)], mapping)
    assert len(report.table) == 43
    assert report.dropped == {"empty measurement": ["lab.csv row 6"]}
    assert any("1 empty measurement: lab.csv row 6" in line for line in report.lines())


def test_non_numeric_value_names_row_and_column(tmp_path):
    rows = _lab_rows()
    rows[2] = "d0,abc,38,1.2,100"
    path = _write(tmp_path / "lab.csv", "device,R_pre_kOhm,R_post_kOhm,V_pulse,t_pulse_ns", rows)
    mapping = Mapping(columns={"before": "R_pre_kOhm", "after": "R_post_kOhm",
                               "amplitude": "V_pulse", "width": "t_pulse_ns"})
    with pytest.raises(DataError, match="row 3, column 'R_pre_kOhm': 'abc'"):
        import_table([(path, None)], mapping)


def test_toml_mapping_loads_and_rejects_unknown_keys(tmp_path):
    good = tmp_path / "map.toml"
    good.write_text('layout = "pulse-train"\nmeasure = "current"\nread_voltage = "0.1V"\n'
                    '[units]\nmeasure = "A"\n[pulse.SET]\namplitude = "1.2V"\nwidth = "100ns"\n')
    mapping = load_mapping(good)
    assert mapping.pulse == {1: (1.2, pytest.approx(1e-7))} and mapping.read_voltage_V == 0.1
    bad = tmp_path / "bad.toml"
    bad.write_text('layout = "rows"\nmesure = "current"\n')
    with pytest.raises(ConfigError, match="'mesure'"):
        load_mapping(bad)


def test_header_units_are_case_sensitive():
    assert header_unit("G_mS").base == "S" and header_unit("t_ms").base == "s"
    assert header_unit("rmp1") is None and header_unit("pulses") is None


def test_written_table_reads_back(tmp_path):
    report = import_table([(FIXTURES / "set_sample.csv", 1)], Mapping(**TRAIN_MAPPING))
    report.table.write_csv(tmp_path / "t.csv")
    back = PulseTable.read_csv(tmp_path / "t.csv")
    np.testing.assert_array_equal(back.g_after, report.table.g_after)


def test_declared_quantity_that_contradicts_the_unit_is_refused(tmp_path):
    path = _write(tmp_path / "lab.csv", "G_pre_uS,G_post_uS,V,w_ns", ["10,12,1,100"] * 20)
    mapping = Mapping(measure="resistance", columns={
        "before": "G_pre_uS", "after": "G_post_uS", "amplitude": "V", "width": "w_ns"})
    with pytest.raises(ConfigError, match="G_pre_uS.*uS, expected a unit of Ohm"):
        import_table([(path, None)], mapping)


def _gate_sweep_rows(sep: str, n: int = 24) -> list[str]:
    """Headerless 1T1R rows: cell, R before (kOhm), R after (kOhm), V_BL, width (us), V_WL."""
    return [sep.join([f"c{i}", "100", f"{100 - i}", "2.0", "1", f"{1.5 + 0.01 * i:.2f}"])
            for i in range(n)]


HEADERLESS = Mapping(header=False, measure="resistance",
                     units={"measure": "kOhm", "width": "us"},
                     columns={"cell": "1", "before": "2", "after": "3", "amplitude": "4",
                              "width": "5", "gate": "6"})


@pytest.mark.parametrize("sep", ["\t", ",", "   "])
def test_headerless_file_with_columns_by_number_in_any_separator(tmp_path, sep):
    path = tmp_path / "sweep.txt"
    path.write_text("\n".join(_gate_sweep_rows(sep)) + "\n")
    table = import_table([(path, None)], HEADERLESS, min_rows=10).table
    assert len(table) == 24
    assert table.g_before[0] == pytest.approx(1e-5)
    assert table.g_after[5] == pytest.approx(1 / 95e3)
    np.testing.assert_allclose(table.width, 1e-6)
    assert table.gate[3] == pytest.approx(1.53)
    assert table.cell[2] == "c2"


def test_widths_in_ns_us_or_s_are_seconds(tmp_path):
    path = tmp_path / "sweep.tsv"
    path.write_text("\n".join(_gate_sweep_rows("\t")) + "\n")
    for unit, scale in (("ns", 1e-9), ("us", 1e-6), ("s", 1.0)):
        mapping = HEADERLESS.merged(units={"width": unit})
        np.testing.assert_allclose(import_table([(path, None)], mapping, 10).table.width, scale)


def test_conductances_by_number_need_no_header(tmp_path):
    path = tmp_path / "g.txt"
    path.write_text("\n".join(f"{10 + i} {20 + i} 1.2 100" for i in range(22)) + "\n")
    mapping = Mapping(header=False, measure="conductance", units={"measure": "uS", "width": "ns"},
                      columns={"before": "1", "after": "2", "amplitude": "3", "width": "4"})
    table = import_table([(path, None)], mapping, 10).table
    assert table.g_after[1] == pytest.approx(21e-6)
    assert table.width[0] == pytest.approx(100e-9)


def test_hilctls_own_table_needs_no_mapping(tmp_path):
    original = PulseTable(np.array(["a", "b"] * 12), np.full(24, 1e-5), np.array([1, -1] * 12),
                          np.full(24, 1.2), np.full(24, 1e-7), np.full(24, 1.6),
                          np.linspace(2e-5, 3e-5, 24))
    original.write_csv(tmp_path / "t.csv")
    for mapping in (Mapping(), Mapping(layout="pulse-table")):
        table = import_table([(tmp_path / "t.csv", None)], mapping, 10).table
        np.testing.assert_array_equal(table.g_after, original.g_after)
        np.testing.assert_array_equal(table.gate, original.gate)


def test_headerless_bad_shapes_and_units_are_refused(tmp_path):
    path = tmp_path / "sweep.tsv"
    path.write_text("\n".join(_gate_sweep_rows("\t")) + "\n")
    narrow = tmp_path / "narrow.tsv"
    narrow.write_text("\n".join("100\t90" for _ in range(22)) + "\n")
    short_row = tmp_path / "short.tsv"
    short_row.write_text("\n".join(_gate_sweep_rows("\t")[:5] + ["c9\t100\t90"]) + "\n")
    cases = [
        (narrow, HEADERLESS, ConfigError, "has 2 columns but the mapping needs 6"),
        (path, HEADERLESS.merged(columns={"gate": "9"}), ConfigError,
         "names column 9 for gate, but the file has 6 columns"),
        (path, HEADERLESS.merged(units={"width": "fortnights"}), ConfigError, "unknown unit"),
        (short_row, HEADERLESS, DataError, "row 6 has 3 fields"),
        (path, HEADERLESS.merged(columns={"gate": "Vg"}), ConfigError, "use numbers"),
    ]
    for where, mapping, error, message in cases:
        with pytest.raises(error, match=message):
            import_table([(where, None)], mapping, 10)


def test_mapping_file_takes_header_false_and_numbered_columns(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('header = false\nmeasure = "resistance"\n'
                    '[columns]\nbefore = 2\nafter = 3\n[units]\nmeasure = "kOhm"\n')
    mapping = load_mapping(path)
    assert mapping.header is False
    assert mapping.columns == {"before": "2", "after": "3"}
