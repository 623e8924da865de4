"""Protocol names are spelled once: the registry builds each, and every command lists them."""

import pytest
from click.testing import CliRunner

from hilctl.assemble import Job
from hilctl.cli import cli
from hilctl.config import build_config
from hilctl.drivers import ConfigError
from hilctl.protocols import ProgrammingProtocol
from hilctl.registry import DEFAULT_PROTOCOL, PLANNED, PROTOCOLS, build_protocol


@pytest.mark.parametrize("name", list(PROTOCOLS))
def test_every_registered_name_builds_its_protocol(name):
    config = build_config({"array": {"rows": 4, "cols": 4},
                           "protocol": {"name": name, "planner": "heuristic"}})
    with Job(config).open_crossbar() as crossbar:
        assert isinstance(build_protocol(Job(config), crossbar), ProgrammingProtocol)


def test_a_planned_protocol_is_its_own_oracle_reference_and_the_others_have_a_planned_one():
    for name, entry in PROTOCOLS.items():
        assert entry.oracle_reference in PLANNED
        assert (entry.oracle_reference == name) == (name in PLANNED)


@pytest.mark.parametrize("command", [["program"], ["compare"]])
def test_the_commands_offer_every_registered_protocol(command):
    text = CliRunner().invoke(cli, [*command, "--help"], terminal_width=400).output
    assert all(name in text for name in PROTOCOLS)


def test_an_unknown_name_lists_the_registry():
    config = build_config({"array": {"rows": 2, "cols": 2}, "protocol": {"name": "ispp"}})
    job = Job(config)
    with job.open_crossbar() as crossbar, pytest.raises(ConfigError, match=", ".join(PROTOCOLS)):
        build_protocol(job, crossbar)


def test_the_oracle_planner_builds_on_the_simulator():
    config = build_config({"array": {"rows": 4, "cols": 4},
                           "protocol": {"name": "one-shot", "planner": "oracle"}})
    with Job(config).open_crossbar() as crossbar:
        assert isinstance(build_protocol(Job(config), crossbar), ProgrammingProtocol)


def test_the_configs_default_protocol_is_the_registrys():
    assert build_config({}).protocol.name == DEFAULT_PROTOCOL in PROTOCOLS


@pytest.mark.parametrize("preset, asked, resets", [
    ("hfox-1r", None, False),    # a bipolar planner plans either polarity from each read
    ("hfox-1r", True, True),
    ("hfox-1t1r", None, True),   # a 1T1R SET only raises G: start every cell from the bottom
    ("hfox-1t1r", False, False),
])
def test_one_shot_starts_with_a_block_reset_where_the_cell_needs_one(preset, asked, resets):
    reset = {} if asked is None else {"one_shot": asked}
    config = build_config({"array": {"rows": 4, "cols": 4, "preset": preset},
                           "protocol": {"name": "one-shot", "planner": "heuristic",
                                        "block_reset": reset}})
    with Job(config).open_crossbar() as crossbar:
        assert build_protocol(Job(config), crossbar).block_reset is resets
