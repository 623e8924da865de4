"""The emulators behave as instruments do, over the real transports (pyvisa-py, pyserial)."""

import socket

import numpy as np
import pytest
import pyvisa
import serial

from hilctl.assemble import open_rig
from hilctl.drivers import Cells, ConfigError, PulseBatch, SafetyLimits
from hilctl.rig_config import rig_config_from_table
from hilctl.simulated_backend.device_model import ParametricDevice
from hilctl.simulated_backend.emulators import EmulatedRig, register_board, register_serial_scheme


@pytest.fixture
def rig2600():
    with EmulatedRig((4, 4), seed=0, smu="2600") as rig:
        yield rig


def visa(resource):
    rm = pyvisa.ResourceManager("@py")
    res = rm.open_resource(resource, read_termination="\n", write_termination="\n")
    res.timeout = 2000
    return res


def test_2600_powers_up_off_and_queues_errors_for_unknown_input(rig2600):
    smu = visa(rig2600.smu_resource)
    try:
        assert "Model 2636B" in smu.query("*IDN?")
        assert float(smu.query("print(smua.source.output)")) == 0
        smu.write("smua.source.levelv = 1.0e+00")
        smu.write("smua.sauce.levelv = 1")
        assert float(smu.query("print(errorqueue.count)")) == 1
        code, message, *_ = smu.query("print(errorqueue.next())").split("\t")
        assert float(code) == -285 and "Syntax error" in message
        assert smu.query("print(errorqueue.next())").split("\t")[1] == "Queue Is Empty"
        assert not rig2600.smu.output and rig2600.smu.levelv == 1.0
    finally:
        smu.close()


def test_2600_batch_script_must_be_loaded_before_it_is_called(rig2600):
    smu = visa(rig2600.smu_resource)
    try:
        smu.write("hilctl_run(1, 2.0e-01)")
        assert float(smu.query("print(errorqueue.count)")) == 1
        assert "hilctl_run" in smu.query("print(errorqueue.next())")
    finally:
        smu.close()


def test_2400_compound_query_measures_the_routed_cell_with_compliance():
    with EmulatedRig((4, 4), seed=0, smu="2400") as rig:
        smu = visa(rig.smu_resource)
        board = serial.serial_for_url(rig.board_url, timeout=2)
        try:
            board.write(b"SEL 1 2\n")
            assert board.readline() == b"OK SEL 1 2\n"
            smu.write(":SENS:CURR:PROT 1.0e-07")
            smu.write(":SOUR:VOLT 2.0e-01")
            smu.write(":OUTP ON")
            current, trip = smu.query(":MEAS:CURR?;:SENS:CURR:PROT:TRIP?").split(";")
            assert float(current) == pytest.approx(1e-7) and trip == "1"
            smu.write(":BOGUS 1")
            assert smu.query(":SYST:ERR?") == '-113,"Undefined header"'
            assert smu.query(":SYST:ERR?") == '0,"No error"'
        finally:
            smu.close()
            board.close()


def test_board_replies_ok_or_err_with_codes(rig2600):
    board = serial.serial_for_url(rig2600.board_url, timeout=2)
    try:
        for command, reply in [("FW?", "OK 1.4.0"), ("SHAPE?", "OK 4 4"),
                               ("SEL 4 0", "ERR 102 cell (4, 0) outside the 4x4 array"),
                               ("PULSE SET 1.0 1e-7", "ERR 103 PULSE needs MODE PULSE"),
                               ("MODE PULSE", "OK MODE PULSE"),
                               ("PULSE SET 1.0 1e-7", "ERR 104 no cell selected"),
                               ("SEL 0 0", "OK SEL 0 0"),
                               ("PULSE SET 3.5 1e-7", "ERR 102 pulse 3.500e+00 V 1.000e-07 s "
                                                      "beyond the board's limits"),
                               ("PULSE SET 1.5 1e-6", "OK PULSE"), ("FLY", "ERR 100 unknown "
                                                                        "command FLY")]:
            board.write(command.encode() + b"\n")
            assert board.readline().decode().strip() == reply, command
        assert rig2600.array.pulses_applied == 1
    finally:
        board.close()


def test_hilsim_scheme_is_registered_explicitly_and_reaches_a_board(rig2600):
    register_serial_scheme()
    url = register_board("bench-a", rig2600.board_server)
    port = serial.serial_for_url(url, timeout=1)
    try:
        port.write(b"*IDN?\n")
        assert port.readline().startswith(b"OK hilctl,XB-4x4-EMU")
    finally:
        port.close()
    with pytest.raises(serial.SerialException, match="no emulated board registered"):
        serial.serial_for_url("hilsim://nowhere")


def test_emulators_listen_on_loopback_only(rig2600):
    for server in (rig2600.smu_server, rig2600.board_server):
        assert server._server.server_address[0] == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", rig2600.smu_server.port), timeout=1):
        pass


def test_faults_fire_once_on_the_matching_command(rig2600):
    board = serial.serial_for_url(rig2600.board_url, timeout=0.3)
    try:
        rig2600.board.faults.arm("garbage", "FW?")
        rig2600.board.faults.arm("no_reply", "SHAPE?", skip=1)
        board.write(b"FW?\n")
        assert b"garbage" in board.readline()
        board.write(b"SHAPE?\nSHAPE?\nSHAPE?\n")
        assert board.readline() == b"OK 4 4\n"
        assert board.readline() == b"OK 4 4\n"  # the third; the second got no reply
        assert board.readline() == b""
    finally:
        board.close()
    with pytest.raises(ConfigError, match="fault 'smoke' is unknown"):
        rig2600.board.faults.arm("smoke")


class RecordingDevice(ParametricDevice):
    """Today's physics, remembering the gate (V, or None) of every pulse it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: list = []

    def switch(self, flat, x, volts, width, gate, noise):
        self.gates.append(None if gate is None else gate.copy())
        return super().switch(flat, x, volts, width, gate, noise)


@pytest.mark.parametrize("smu", ["2600", "2400"])
def test_a_gate_sent_by_the_driver_reaches_the_simulated_array(smu):
    device = RecordingDevice()
    cells = Cells(np.array([0, 1, 2]), np.array([3, 2, 1]))
    gate = np.array([0.8, 1.25, 3.0])
    with EmulatedRig((4, 4), seed=0, smu=smu, model=device) as rig:
        with open_rig(rig_config_from_table(rig.rig_table(SafetyLimits()))) as crossbar:
            crossbar.apply(PulseBatch(cells, 1, 1.2, 1e-6, gate=gate))
            crossbar.apply(PulseBatch(cells, -1, 1.2, 1e-6))
        board = serial.serial_for_url(rig.board_url, timeout=2)
        try:
            board.write(b"SEL 3 3\nMODE PULSE\nPULSE SET 1.0 1e-6 2.0e+00\n")
            assert [board.readline() for _ in range(3)][-1] == b"OK PULSE\n"
        finally:
            board.close()
    np.testing.assert_allclose(np.concatenate(device.gates[:-2]), gate, rtol=1e-6)
    assert device.gates[-2] is None
    assert device.gates[-1].tolist() == [2.0]


def test_board_refuses_mixed_or_out_of_range_gates_and_changes_nothing(rig2600):
    board = serial.serial_for_url(rig2600.board_url, timeout=2)
    try:
        for command, reply in [
            ("LIMITS?", "OK 3.000000e+00 3.000000e+00 1.000000e-08 1.000000e-03 4.000000e+00"),
            ("BATCH 0,0,S,1.0,1e-6,1.0;1,1,S,1.0,1e-6", "ERR 101 a gate on every entry or "
                                                        "on none"),
            ("SEQ 0,0,4.4", "ERR 102 gate 4.400e+00 V beyond the word-line driver's "
                            "[0, 4.000e+00] V"),
            ("SEQ 0,0,1.0;1,1,1.5", "OK SEQ 2"),
            ("SEL 0 0", "OK SEL 0 0"), ("MODE PULSE", "OK MODE PULSE"),
            ("PULSE SET 1.0 1e-6 -0.5", "ERR 102 gate -5.000e-01 V beyond the word-line "
                                        "driver's [0, 4.000e+00] V"),
        ]:
            board.write(command.encode() + b"\n")
            assert board.readline().decode().strip() == reply, command
        assert rig2600.array.pulses_applied == 0
    finally:
        board.close()
