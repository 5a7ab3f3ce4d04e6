"""`mle batch invoke`'s overrides (`--set` and flags) and the body the controller reads."""

from __future__ import annotations

import json

import pytest

from components.batch_inputs import ResolvedInput
from components.batch_overrides import build_body, parse_overrides
from components.endpoint_cli import CliError
from serving.batch.controller.invoke import Overrides, parse_invoke


def test_set_takes_the_controllers_overrides_and_names_the_key_at_fault() -> None:
    got = parse_overrides(
        [
            "mini_batch_size=5",
            "max_retries=0",
            "timeout=60",
            "error_threshold=-1",
            "output_file_name=out.csv",
            "logging_level=DEBUG",
            "overwrite=True",
        ],
        {"instance_count": 2, "mini_batch_size": None},
    )
    assert got == {
        "instance_count": 2, "mini_batch_size": 5, "max_retries": 0, "timeout": 60, "error_threshold": -1,
        "output_file_name": "out.csv", "logging_level": "debug", "overwrite": True,
    }  # fmt: skip
    # Azure's spellings of the same keys.
    assert parse_overrides(
        ["miniBatchSize=3", "retry_settings.max_retries=2", "compute.instance_count=4"]
    ) == {
        "mini_batch_size": 3,
        "max_retries": 2,
        "instance_count": 4,
    }
    bad = {
        "colour=blue": r"--set colour: unknown override; allowed: instance_count, mini_batch_size, "
        r"max_retries, timeout, error_threshold, output_file_name, logging_level, overwrite",
        "overwrite": "expected key=value",
        "mini_batch_size=0": "mini_batch_size must be between 1 and 1000000",
        "mini_batch_size=2.5": "mini_batch_size must be a whole number",
        "instance_count=65001": "instance_count must be between 1 and 65000",
        "max_retries=101": "max_retries must be between 0 and 100",
        "timeout=0": "timeout must be between 1 and 604800",
        "error_threshold=-2": "error_threshold must be between -1 and 2147483647",
        "output_file_name=out/x.csv": "output_file_name must be a plain file name",
        "output_file_name=.hidden": "output_file_name must be a plain file name",
        "logging_level=trace": "logging_level must be one of warning, info, debug",
        "overwrite=yes": "overwrite must be true or false",
    }
    for item, message in bad.items():
        with pytest.raises(CliError, match=message):
            parse_overrides([item])
    with pytest.raises(CliError, match=r"--mini-batch-size=0: mini_batch_size must be between"):
        parse_overrides([], {"mini_batch_size": 0})
    with pytest.raises(CliError, match=r"mini_batch_size is given twice \(--mini-batch-size and --set"):
        parse_overrides(["mini_batch_size=3"], {"mini_batch_size": 2})
    assert parse_overrides(["mini_batch_size=2"], {"mini_batch_size": 2}) == {"mini_batch_size": 2}


def test_the_body_is_azures_rest_shape_and_the_controller_reads_every_override() -> None:
    data = ResolvedInput("azureml://datastores/workspaceblobstore/paths/LocalUpload/h/data/", "UriFolder")
    assert build_body(data, {}) == {
        "properties": {
            "InputData": {
                "input_data": {
                    "JobInputType": "UriFolder",
                    "Uri": "azureml://datastores/workspaceblobstore/paths/LocalUpload/h/data/",
                }
            }
        }
    }
    overrides = parse_overrides(
        [
            "instance_count=3", "mini_batch_size=4", "max_retries=1", "timeout=90", "error_threshold=10",
            "output_file_name=p.csv", "logging_level=warning", "overwrite=true",
        ]
    )  # fmt: skip
    body = build_body(data, overrides, "azureml://datastores/workspaceblobstore/paths/out/")
    props = body["properties"]
    assert props["compute"] == {"instanceCount": 3}
    assert props["retrySettings"] == {"maxRetries": 1, "timeout": "PT90S"}
    assert props["OutputData"] == {
        "score": {"JobOutputType": "UriFolder", "Uri": "azureml://datastores/workspaceblobstore/paths/out/"}
    }
    parsed = parse_invoke(json.loads(json.dumps(body)))
    assert parsed.overrides == Overrides(
        instance_count=3, mini_batch_size=4, max_retries=1, timeout=90, error_threshold=10,
        output_file_name="p.csv", logging_level="warning", overwrite=True,
    )  # fmt: skip
    assert parsed.input.kind == "UriFolder" and parsed.input.location.path == "LocalUpload/h/data"
    assert parsed.output is not None and parsed.output.location.path == "out"
