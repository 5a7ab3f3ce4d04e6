"""A command component's command filled in as Azure ML fills it: values as text, $[[...]] dropped."""

from __future__ import annotations

import pytest

from serving.batch.commands import CommandError, render_command

PREPARE = (
    "python prepare.py --data ${{inputs.data}} $[[--transformations ${{inputs.transformations}}]] "
    "$[[--encoding ${{ inputs.encoding }}]] --out ${{outputs.prepared}}"
)


def test_values_and_paths_are_pasted_and_optional_blocks_kept_when_given() -> None:
    command = render_command(
        PREPARE,
        {"data": "/in/data", "transformations": "/in/t", "encoding": "onehot"},
        {"prepared": "/out/prepared"},
    )
    assert command == (
        "python prepare.py --data /in/data --transformations /in/t --encoding onehot --out /out/prepared"
    )


def test_an_optional_block_goes_whole_when_its_input_is_not_given() -> None:
    command = render_command(
        PREPARE, {"data": "/in", "transformations": None, "encoding": None}, {"prepared": "/o"}
    )
    assert command == "python prepare.py --data /in   --out /o"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("run ${{inputs.nope}}", r"declares no input 'nope' \(its inputs: data\)"),
        ("run ${{outputs.nope}}", r"declares no output 'nope' \(its outputs: out\)"),
        ("run ${{inputs.data}}", r"outside \$\[\[...\]\], but the input was not given"),
        ("run $[[--flag]]", r"names no \$\{\{inputs...\}\}"),
    ],
)
def test_commands_that_cannot_be_filled_say_why(template: str, message: str) -> None:
    with pytest.raises(CommandError, match=message):
        render_command(template, {"data": None}, {"out": "/o"})
