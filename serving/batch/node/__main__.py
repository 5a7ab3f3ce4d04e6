"""`python -m serving.batch.node`: a batch node, configured from the environment."""

from __future__ import annotations

import logging
import os
import sys
import time

from pydantic import ValidationError

from serving.batch.node.settings import NodeSettings
from serving.batch.node.supervisor import Node

_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)s [%(process)d] %(threadName)s %(name)s - %(message)s"
# Workers run the user's code: they must not inherit what lets a process talk to the controller.
_SECRET_VARIABLES = ("MLE_BATCH_NODE_SECRET",)


def main() -> int:
    try:
        settings = NodeSettings()  # type: ignore[call-arg]  # required fields come from the environment
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc'])}: {issue['msg']}" for issue in error.errors()
        )
        print(f"batch node: bad configuration: {problems}", file=sys.stderr)
        return 2
    for name in _SECRET_VARIABLES:
        os.environ.pop(name, None)
    formatter = logging.Formatter(_FORMAT, "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    logging.basicConfig(level=settings.log_level, handlers=[handler])
    return Node(settings).run()


if __name__ == "__main__":
    sys.exit(main())
