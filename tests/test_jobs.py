"""Whole jobs through the API the web UI and scripts call: one job type per kind, each planned by
its `plan_*` function and run by `run_job` into the run folder its command writes."""

import json

import pytest

import artengine
import artengine.jobs
from artengine.jobs import Reporter, Settings, plan_comparison, plan_generate, plan_reproduce, plan_resume, run_job


def made_image(out):
    job = plan_generate(Settings(prompt="red", generator="solid", seed=4, out=str(out)))
    return run_job(job, Reporter()).images[0].path


def stopped_run(out, monkeypatch):
    monkeypatch.setenv("TEST_STOP_AT_STEP", "2")
    job = plan_generate(Settings(prompt="red", generator="slow", seed=4, out=str(out), sets=["generator.steps=4"]))
    with pytest.raises(artengine.Interrupted):
        run_job(job, Reporter())
    monkeypatch.delenv("TEST_STOP_AT_STEP")
    return job.run.dir


# kind, how it is planned (given the output folder), its type, the run folder's name starts
# with, what run.json records as its kind, whether the folder holds a grid and a report
KINDS = [
    ("generate", lambda out, mp: plan_generate(Settings(prompt="red", generator="solid", seed=1, out=str(out))),
     artengine.jobs.GenerateJob, "red", "generate", False),
    ("compare", lambda out, mp: plan_comparison(Settings(prompt="red", generators=["solid", "slow"], seed=1,
                                                        out=str(out))),
     artengine.jobs.CompareJob, "compare-red", "compare", True),
    ("reproduce", lambda out, mp: plan_reproduce(made_image(out), out),
     artengine.jobs.ReproduceJob, "reproduce-red", "reproduce", False),
    ("resume", lambda out, mp: plan_resume(stopped_run(out, mp)),
     artengine.jobs.ResumeJob, "red", "generate", False),
]


@pytest.mark.parametrize("kind, plan, job_type, folder, recorded, grid", KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_is_its_own_job_type_and_runs_into_its_commands_run_folder(
        tmp_path, monkeypatch, kind, plan, job_type, folder, recorded, grid):
    job = plan(tmp_path / "out", monkeypatch)
    assert type(job) is job_type and isinstance(job, artengine.jobs.Job)
    run = run_job(job, Reporter())
    assert run is job.run and run.dir.parent == tmp_path / "out" and run.dir.name.split("-", 2)[2].startswith(folder)
    document = json.loads((run.dir / "run.json").read_text())
    assert document["kind"] == recorded and document["status"] == "complete"
    assert set(document["configurations"]) == {name for name, _, _ in job.plans}
    assert (run.dir / "grid.png").is_file() == grid and (run.dir / "index.html").is_file() == grid


def test_a_generate_is_one_configuration_named_after_its_generator(tmp_path):
    job = plan_generate(Settings(prompt="red", generator="solid", seed=1, out=str(tmp_path)))
    assert job.plans == [("solid", job.plan, {})] and job.configuration == "solid"
    assert [record.configuration for record in run_job(job, Reporter()).images] == ["solid"]


def test_a_reproduce_compares_the_pixels_once_run(tmp_path):
    image = made_image(tmp_path)
    job = plan_reproduce(image, tmp_path, shown_as="mine.png")
    assert job.result == {}
    run = run_job(job, Reporter())
    assert job.result == {"identical": True, "max_difference": 0, "original": "mine.png",
                          "reproduced": str(run.images[0].path.resolve())}


def test_a_resume_that_will_not_run_lets_go_of_its_folder(tmp_path, monkeypatch):
    folder = stopped_run(tmp_path, monkeypatch)
    plan_resume(folder).cancel()
    assert run_job(plan_resume(folder), Reporter()).document["status"] == "complete"  # not locked


@pytest.mark.parametrize("command", ["generate", "compare"])
def test_each_flag_of_generate_and_compare_is_the_settings_field_of_its_name(command):
    import dataclasses

    import artengine.cli

    flags = {param.name for param in artengine.cli.cli.commands[command].params} - {"resume_dir", "as_json"}
    assert flags <= {field.name for field in dataclasses.fields(Settings)}
