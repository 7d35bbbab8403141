"""Local stack runner: real Postgres, Kafka and provider simulators as child processes, no Docker.

    with LocalStack(Path(".data"), StackPorts.free()) as endpoints:
        os.environ.update(endpoints.as_env())

CLI: ``python -m infra.stack up|check`` (see ``infra/stack/__main__.py``).
"""

from infra.stack.errors import StackError
from infra.stack.local_stack import Endpoints, LocalStack, StackPorts

__all__ = ["Endpoints", "LocalStack", "StackError", "StackPorts"]
