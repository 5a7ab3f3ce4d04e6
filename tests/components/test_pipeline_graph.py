"""Pipeline components as graphs: bindings checked, steps ordered, every problem at its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from components.errors import SpecError
from components.pipeline_graph import Given, ParentInput, StepOutputRef
from components.pipeline_loading import load_component, load_pipeline
from components.specs.pipelines import CommandComponentSpec, StepAsset

FIXTURES = Path(__file__).parent / "fixtures" / "pipelines"
CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / "azureml-examples"


def test_a_pipeline_s_jobs_are_bound_and_ordered_by_their_data(tmp_path: Path) -> None:
    graph = load_pipeline(FIXTURES / "pipeline.yml")
    # score_job is written first but reads prepare_job's output; side_job is independent.
    assert graph.layers == (("prepare_job", "side_job"), ("score_job",))
    score = graph.steps["score_job"]
    assert score.inputs == {
        "data": StepOutputRef("prepare_job", "prepared"),
        "mode": ParentInput("score_mode"),
    }
    assert score.outputs == {"scores": "scores"} and score.after == {"prepare_job"}
    assert graph.steps["side_job"].inputs["encoding"] == Given("onehot")
    assert graph.steps["prepare_job"].outputs == {"prepared": None}  # a folder of its own
    assert graph.steps["prepare_job"].component.code == FIXTURES / "src"


def _write(folder: Path, name: str, document: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _pipeline(tmp_path: Path, jobs: dict[str, Any], **extra: Any) -> Path:
    for name in ("prepare.yml", "score.yml"):
        (tmp_path / name).write_text((FIXTURES / name).read_text())
    (tmp_path / "src").mkdir(exist_ok=True)
    document = {
        "$schema": "https://azuremlschemas.azureedge.net/latest/pipelineComponent.schema.json",
        "type": "pipeline",
        "inputs": {"input_data": {"type": "uri_folder"}},
        "outputs": {"scores": {"type": "uri_folder"}},
        "jobs": jobs,
        **extra,
    }
    return _write(tmp_path, "pipeline.yml", document)


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_pipeline(path)
    return [str(problem) for problem in caught.value.problems]


def test_a_cycle_is_refused_naming_its_jobs(tmp_path: Path) -> None:
    path = _pipeline(
        tmp_path,
        {
            "a": {"component": "prepare.yml", "inputs": {"data": "${{parent.jobs.b.outputs.scores}}"}},
            "b": {
                "component": "score.yml",
                "inputs": {"data": "${{parent.jobs.a.outputs.prepared}}", "mode": "x"},
                "outputs": {"scores": "${{parent.outputs.scores}}"},
            },
        },
    )
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:")
    assert "jobs: the jobs depend on each other in a cycle" in problem and problem.endswith("a -> b -> a")


def test_bindings_to_what_does_not_exist_are_refused_each_at_its_line(tmp_path: Path) -> None:
    path = _pipeline(
        tmp_path,
        {
            "prep": {
                "component": "prepare.yml",
                "inputs": {"data": "${{parent.inputs.nope}}", "colour": "red"},
                "outputs": {"prepared": "${{parent.outputs.missing}}"},
            },
            "score": {
                "component": "score.yml",
                "inputs": {"data": "${{parent.jobs.prep.outputs.scores}}", "threshold": 2},
            },
        },
    )
    problems = _problems(path)
    lines = path.read_text().splitlines()

    def at(key: str, message: str) -> bool:
        line = next(n for n, text in enumerate(lines, 1) if text.strip().startswith(f"{key}:"))
        return any(p.startswith(f"{path}:{line}: ") and message in p for p in problems)

    assert at("data", "jobs.prep.inputs.data: the pipeline has no input 'nope' (its inputs: input_data)")
    assert at(
        "colour", "component 'fixture_prepare' has no input 'colour' (its inputs: data, transformations"
    )
    assert at("prepared", "the pipeline has no output 'missing' (its outputs: scores)")
    assert any("jobs.score.inputs.data: job 'prep' has no output 'scores' (its outputs: prepared)" in p
               for p in problems)  # fmt: skip
    assert at("threshold", "2 is above the input's max 1")
    assert any("jobs.score.inputs.mode: required input of component 'fixture_score' is not bound" in p
               for p in problems)  # fmt: skip
    assert any("outputs.scores: bound to no step output" in p for p in problems)
    assert len(problems) == 7


def test_a_component_file_s_own_problems_name_that_file(tmp_path: Path) -> None:
    path = _pipeline(tmp_path, {"prep": {"component": "broken.yml", "inputs": {"data": "x"}}}, outputs={})
    _write(tmp_path, "broken.yml", {"type": "command", "name": "Bad-Name", "command": "x", "environment": {}})
    problems = _problems(path)
    assert any(p.startswith(f"{tmp_path / 'broken.yml'}:") and "name" in p and "not a component name" in p
               for p in problems)  # fmt: skip


def test_inline_components_and_registered_references(tmp_path: Path) -> None:
    inline = {
        "type": "command",
        "name": "inline_step",
        "inputs": {"n": {"type": "integer"}},
        "environment": {"image": "python:3.11"},
        "command": "echo ${{inputs.n}}",
        "tags": "not a mapping",
    }
    path = _pipeline(
        tmp_path,
        {"i": {"component": inline, "inputs": {"n": 3}}, "r": {"component": "azureml:fixture_score@latest"}},
        outputs={},
    )
    problems = _problems(path)
    assert any("jobs.i.component.tags" in p for p in problems)
    assert any("jobs.r.component: azureml:fixture_score@latest: no components are registered" in p
               for p in problems)  # fmt: skip

    score, _ = load_component(FIXTURES / "score.yml")
    assert isinstance(score, CommandComponentSpec)

    def registered(reference: str) -> CommandComponentSpec:
        if reference != "azureml:fixture_score@latest":
            raise LookupError(f"no component {reference!r} (registered: fixture_score)")
        return score

    del inline["tags"]
    path = _pipeline(
        tmp_path,
        {
            "i": {"component": inline, "inputs": {"n": 3}},
            "r": {
                "component": "azureml:fixture_score@latest",
                "inputs": {"data": {"path": "azureml:heart@latest", "type": "uri_folder"}, "mode": "m"},
            },
        },
        outputs={},
    )
    graph = load_pipeline(path, registered=registered)
    assert graph.layers == (("i", "r"),)
    assert graph.steps["r"].inputs["data"] == Given(StepAsset(path="azureml:heart@latest", type="uri_folder"))


def test_the_conformance_pipeline_s_own_files_load(tmp_path: Path) -> None:
    example = CONFORMANCE / "cli/endpoints/batch/deploy-pipelines/batch-scoring-with-preprocessing"
    if not example.is_dir():
        pytest.skip(f"{example} is absent (../shared/conformance)")
    prepare, _ = load_component(example / "components/prepare/prepare.yml", check_paths=False)
    assert isinstance(prepare, CommandComponentSpec) and prepare.inputs["transformations"].optional

    def registered(reference: str) -> CommandComponentSpec:
        assert reference == "azureml:uci_heart_prepare@latest"
        return prepare

    graph = load_pipeline(example / "pipeline.yml", registered=registered, check_paths=False)
    assert graph.layers == (("preprocess_job",), ("score_job",))
    assert graph.steps["score_job"].outputs == {"scores": "scores"}
    assert graph.steps["score_job"].inputs["score_mode"] == ParentInput("score_mode")
