"""`python -m serving.probe PORT LIVE_PATH [READY_PATH]`: the containers' Docker health check.

`python -m serving.probe --readiness PORT PATH`: what a deployer waits on; exit 0 ready, 3 when the
scorer says its script failed (waiting longer cannot help; the answer's message is printed), 1 else.

Exit 0 when the liveness route answers 200 (else 1, and after the probe's failure threshold the
endpoint's agent restarts the container). With a readiness route, also print `ready` or
`not-ready`: the engine keeps the output, which is how `mle show` tells ready instances apart
without a request of its own. Standard library only: it runs in every image, whatever the user's
environment holds.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from collections.abc import Sequence

TIMEOUT_S = 5.0


def answers(port: int, path: str) -> int | None:
    """The status a GET on 127.0.0.1:port/path answers with; None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT_S) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return None


FAILED = 3


def readiness(port: int, path: str) -> tuple[int, str]:
    """(exit code, what the scorer said) of one readiness check."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=TIMEOUT_S) as resp:
            return (0 if resp.status == 200 else 1), ""
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        return (FAILED if exc.headers.get("x-ms-scorer-state") == "failed" else 1), body
    except (OSError, ValueError) as exc:
        return 1, str(exc)


def main(argv: Sequence[str]) -> int:
    if len(argv) == 3 and argv[0] == "--readiness" and argv[1].isdigit():
        code, said = readiness(int(argv[1]), argv[2])
        sys.stdout.write(said)
        return code
    if len(argv) not in (2, 3) or not argv[0].isdigit():
        print("usage: python -m serving.probe PORT LIVE_PATH [READY_PATH]", file=sys.stderr)
        return 2
    port = int(argv[0])
    live = answers(port, argv[1]) == 200
    if len(argv) == 3:
        print("ready" if live and answers(port, argv[2]) == 200 else "not-ready")
    elif not live:
        print("not-live")
    return 0 if live else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
