"""A configuration becomes its parts once per job: one device model per array the job opens,
and a measured table read once per job, anew for the next one."""

from hilctl.api.runs import start_run
from hilctl.assemble import Job
from hilctl.config import build_config
from hilctl.drivers.pulse_table import PulseTable
from hilctl.run.compare import run_comparison
from hilctl.targets import targets_for
from tests.simulated_backend.one_t_one_r_table import one_t_one_r_table


def counting(monkeypatch, owner, name: str) -> list:
    calls = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_a_program_job_builds_one_device_model(monkeypatch, tmp_path):
    built = counting(monkeypatch, Job, "_new_device_model")
    job = Job(build_config({"array": {"rows": 6, "cols": 6, "preset": "hfox-1t1r"},
                            "protocol": {"name": "write-verify-planned",
                                         "planner": "heuristic"}}))
    outcome = start_run(job, tmp_path / "run")
    assert outcome.summary["cells"] == 36 and len(built) == 1


def test_a_compare_job_builds_one_device_model_per_copy(monkeypatch):
    built = counting(monkeypatch, Job, "_new_device_model")
    job = Job(build_config({"array": {"rows": 4, "cols": 4}}))
    run_comparison(job, ["write-verify", "write-verify-adaptive"], targets_for(job), None,
                   with_oracle=False)
    assert len(built) == 2


def test_a_measured_table_is_read_once_per_job_and_anew_after_an_edit(monkeypatch, tmp_path):
    path = tmp_path / "table.csv"
    table = one_t_one_r_table(shape=(8, 8), cycles=2)
    table.write_csv(path)
    reads = counting(monkeypatch, PulseTable, "read_csv")
    config = build_config({"array": {"rows": 4, "cols": 4, "empirical_table": str(path)}})
    first = Job(config)
    targets_for(first)
    with first.open_crossbar():
        pass
    assert len(reads) == 1
    table.g_before, table.g_after = table.g_before / 2, table.g_after / 2
    table.write_csv(path)  # the lab edits the table between two jobs
    assert Job(config).window != first.window and len(reads) == 2
