"""Azure's invoke body and per-job overrides (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from serving.batch.controller.errors import BadRequest
from serving.batch.controller.invoke import Overrides, job_settings, parse_invoke
from serving.batch.protocol import JobSettings, RetrySettings
from tests.serving.batch.controller.helpers import invoke_body

DATA = "azureml://datastores/data/paths/inputs"


def test_azure_rest_body_pascal_case() -> None:
    request = parse_invoke(
        {
            "properties": {
                "InputData": {"heart_data": {"JobInputType": "UriFolder", "Uri": DATA}},
                "OutputData": {
                    "score": {"JobOutputType": "UriFile", "Uri": "azureml://datastores/out/paths/a/b.csv"}
                },
            }
        }
    )
    assert request.input.name == "heart_data"
    assert request.input.kind == "UriFolder"
    assert (request.input.location.datastore, request.input.location.path) == ("data", "inputs")
    assert request.output is not None
    assert (request.output.kind, request.output.location.path, request.output.location.name) == (
        "UriFile",
        "a/b.csv",
        "b.csv",
    )


def test_sdk_camel_case_body_with_overrides() -> None:
    # What azure-ai-ml serializes (BatchJobResource of the 2020-09-01-dataplanepreview API).
    request = parse_invoke(
        {
            "properties": {
                "inputData": {"UriFolder": {"jobInputType": "UriFolder", "uri": DATA}},
                "compute": {"instanceCount": 5},
                "miniBatchSize": 20,
                "retrySettings": {"maxRetries": 2, "timeout": "PT1M30S"},
                "errorThreshold": 4,
                "outputFileName": "out.csv",
                "loggingLevel": "Debug",
            }
        }
    )
    assert request.overrides == Overrides(
        instance_count=5,
        mini_batch_size=20,
        max_retries=2,
        timeout=90,
        error_threshold=4,
        output_file_name="out.csv",
        logging_level="debug",
    )


def test_cli_snake_case_overrides_and_output_path() -> None:
    request = parse_invoke(
        invoke_body(
            mini_batch_size="3",
            instance_count=2,
            max_retries=0,
            timeout=5,
            error_threshold=-1,
            output_path="azureml://datastores/workspaceblobstore/paths/results",
            overwrite="true",
        )
    )
    assert request.overrides.mini_batch_size == 3
    assert request.overrides.max_retries == 0
    assert request.overrides.overwrite is True
    assert request.output is not None and request.output.location.path == "results"


def test_long_datastore_id_form_is_accepted() -> None:
    uri = (
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws"
        "/datastores/data/paths/inputs/"
    )
    request = parse_invoke({"properties": {"InputData": {"d": {"JobInputType": "UriFolder", "Uri": uri}}}})
    assert (request.input.location.datastore, request.input.location.path) == ("data", "inputs")


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"miniBatchSize": 0}, "miniBatchSize must be between 1"),
        ({"mini_batch_size": "ten"}, "mini_batch_size must be a whole number"),
        ({"instanceCount": True}, "instanceCount must be a whole number"),
        ({"errorThreshold": -2}, "errorThreshold must be between -1"),
        ({"retrySettings": {"timeout": "soon"}}, "retrySettings.timeout must be a whole number"),
        ({"retrySettings": {"delay": 1}}, "retrySettings.delay is not supported"),
        ({"compute": {"target": "x"}}, "compute.target is not supported"),
        ({"outputFileName": "a/b.csv"}, "must be a plain file name"),
        ({"loggingLevel": "loud"}, "loggingLevel must be one of warning, info, debug"),
        ({"overwrite": "maybe"}, "overwrite must be true or false"),
        ({"mini_batch_sise": 3}, "properties.mini_batch_sise is not a known field"),
        ({"max_concurrency_per_instance": 4}, "cannot change per job"),
        ({"outputPath": DATA, "OutputData": {}}, "both set the output"),
    ],
)
def test_bad_overrides_are_400s_naming_the_key(properties: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_invoke(invoke_body(**properties))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("https://example.blob.core.windows.net/data/x", "web URIs are not supported here"),
        ("azureml:heart-data@latest", "data asset references are resolved by the CLI"),
        ("azureml:heart-data:1", "data asset references"),
        ("/subscriptions/s/resourceGroups/r/workspaces/w/data/heart/versions/1", "data asset references"),
        ("/tmp/folder", "is not a datastore URI"),
        ("azureml://datastores/data/paths/../etc", "'..' is not allowed"),
    ],
)
def test_unsupported_uris_say_what_is_supported(uri: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message) as caught:
        parse_invoke({"properties": {"InputData": {"d": {"JobInputType": "UriFolder", "Uri": uri}}}})
    assert "azureml://datastores/<datastore>/paths/<path>" in str(caught.value) or ".." in str(caught.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "the request body must be a JSON object"),
        ({"InputData": {}}, "InputData is not a known field; the job goes in `properties`"),
        ({"properties": {}}, "properties.InputData is required"),
        ({"properties": {"InputData": {}}}, "exactly one entry"),
        (
            {"properties": {"InputData": {"a": {"JobInputType": "Literal", "Value": "x"}}}},
            "Value is not a known field",
        ),
        (
            {"properties": {"InputData": {"a": {"JobInputType": "MLTable", "Uri": DATA}}}},
            "must be one of UriFolder",
        ),
        ({"properties": {"InputData": {"a": {"Uri": DATA}}}}, "has no JobInputType"),
        ({"properties": {"InputData": {"a": {"JobInputType": "UriFolder"}}}}, "has no Uri"),
        (
            {"properties": {"InputData": {"a": {"JobInputType": "UriFolder", "Uri": DATA}}, "name": "-x"}},
            "name must",
        ),
    ],
)
def test_malformed_bodies(body: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_invoke(body)


def test_job_settings_apply_overrides_over_the_deployment() -> None:
    base = JobSettings(
        mini_batch_size=10, instance_count=1, retry_settings=RetrySettings(max_retries=3, timeout=30)
    )
    settings = job_settings(base, Overrides(mini_batch_size=2, max_retries=0, error_threshold=0), None)
    assert (
        settings.mini_batch_size,
        settings.retry_settings.max_retries,
        settings.retry_settings.timeout,
    ) == (2, 0, 30)
    assert (settings.error_threshold, settings.instance_count, settings.output_file_name) == (
        0,
        1,
        "predictions.csv",
    )
    assert job_settings(base, Overrides(), None) == base


def test_a_uri_file_output_names_the_output_file() -> None:
    request = parse_invoke(
        invoke_body(
            OutputData={
                "score": {"JobOutputType": "UriFile", "Uri": "azureml://datastores/data/paths/o/x.csv"}
            }
        )
    )
    assert job_settings(JobSettings(), request.overrides, request.output).output_file_name == "x.csv"
    clash = parse_invoke(
        invoke_body(
            outputFileName="y.csv",
            OutputData={
                "score": {"JobOutputType": "UriFile", "Uri": "azureml://datastores/data/paths/o/x.csv"}
            },
        )
    )
    with pytest.raises(BadRequest, match="conflicts with the UriFile output"):
        job_settings(JobSettings(), clash.overrides, clash.output)
