"""What `mle invoke` sends for each kind of payload, and which answers it prints."""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path

from components.invoke_bodies import binary_body, is_text, json_body, multipart_body


def test_json_and_binary_bodies(tmp_path: Path) -> None:
    request = tmp_path / "request.json"
    request.write_text('{"data": [[1, 2]]}')
    assert json_body(request) == json_body(request, None)
    assert json_body(request).content_type == "application/json"
    assert json_body(request, "text/plain").content_type == "text/plain"
    image = tmp_path / "cat.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0binary")
    assert binary_body(image).data == b"\xff\xd8\xff\xe0binary"
    assert binary_body(image).content_type == "image/jpeg"
    odd = tmp_path / "blob"
    odd.write_bytes(b"\0")
    assert binary_body(odd).content_type == "application/octet-stream"


def test_a_multipart_upload_parses_back_to_the_file(tmp_path: Path) -> None:
    image = tmp_path / "digit 7.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n--not-a-boundary\r\n" + bytes(range(256)))
    body = multipart_body(image)
    assert body.content_type.startswith("multipart/form-data; boundary=mle-")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + body.data
    )
    (part,) = list(message.iter_parts())
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename() == "digit 7.png" and part.get_content_type() == "image/png"
    assert part.get_payload(decode=True) == image.read_bytes()
    assert 'name="image"' in multipart_body(image, field="image").data.decode("latin-1")


def test_which_answers_are_printed() -> None:
    assert is_text("application/json") and is_text("text/plain; charset=utf-8") and is_text(None)
    assert is_text("application/problem+json")
    assert not is_text("image/png") and not is_text("application/octet-stream")
