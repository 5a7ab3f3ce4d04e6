"""`scripts/mle invoke` with every kind of payload, against a real endpoint (engine, Docker, router)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.fixtures.tiny_endpoint import local_stack, tiny_serving
from tests.integration.pulumi_stack import REPO, TempStack

pytestmark = pytest.mark.integration
ENDPOINT = "it-payloads"
SCRIPT = Path(__file__).parent / "fixtures" / "binary_echo"


def test_json_multipart_and_binary_payloads_and_saved_answers(tmp_path: Path) -> None:
    serving = tiny_serving(ENDPOINT)
    serving["deployments"][0]["code_configuration"] = {"code": str(SCRIPT), "scoring_script": "score.py"}
    stack = TempStack.create(local_stack(serving))
    try:
        stack.up()
        mle = [str(REPO / "scripts" / "mle"), "--stack", stack.name, "invoke", ENDPOINT]

        def invoke(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*mle, *args], capture_output=True, text=True, check=False)

        request = tmp_path / "request.json"
        request.write_text('{"data": [1, 2]}')
        assert json.loads(invoke("--request-file", str(request)).stdout) == {"json": {"data": [1, 2]}}

        image = tmp_path / "digit.png"
        image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
        uploaded = invoke("--file", str(image))
        assert uploaded.returncode == 0, uploaded.stderr
        assert json.loads(uploaded.stdout) == {"filename": "digit.png", "size": 1032, "type": "image/png"}

        blob = tmp_path / "blob.bin"
        blob.write_bytes(b"\x00\x01binary\xff")
        shown = invoke("--data-binary", str(blob))
        assert shown.stdout == "" and "save it with --output FILE" in shown.stderr
        saved = tmp_path / "answer.bin"
        kept = invoke("--data-binary", str(blob), "--output", str(saved))
        assert kept.returncode == 0, kept.stderr
        assert saved.read_bytes() == b"\xffyranib\x01\x00"

        missing = invoke("--file", str(tmp_path / "nope.png"))
        assert missing.returncode != 0 and "nope.png" in missing.stderr and "Traceback" not in missing.stderr
    finally:
        stack.destroy_and_remove()
