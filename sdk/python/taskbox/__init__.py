"""The taskbox SDK for Python tasks.

A task is a module ``app.py`` with one function::

    from taskbox import log

    def run(ctx, params):
        log.info("attempt %d of %s", ctx.attempt, ctx.execution_id)
        return {"hello": params.get("name", "world")}

``params`` is the config's parameters as Python objects (``json.loads``);
the return value must be JSON-able and is stored as the result; an
exception is a failure whose error is ``Type: message`` and its traceback.
``ctx`` is a :class:`Context`. ``log`` writes to the run's logs (so does
the standard ``logging`` module, at INFO and above, and ``print``).
The doors, when the sidecar grants them: :mod:`taskbox.kv` (key-value
state) and :mod:`taskbox.http` (outbound HTTP); secrets are environment
variables (``os.environ``).

``taskbox build`` bundles this package into the component; it owns the
mapping between the ``stateful-http-task`` world and the task function, and
nothing else.
"""

from dataclasses import dataclass
from datetime import datetime

from . import log

__all__ = ["Context", "log"]


@dataclass(frozen=True)
class Context:
    """What the host tells a run about itself."""

    task_type: str
    #: The config this run belongs to; empty for an ad-hoc ``taskbox run``.
    config_id: str
    #: Unique per execution, shared by all its attempts.
    execution_id: str
    #: 1 for the first attempt, 2 for the first retry, and so on.
    attempt: int
    #: When the run was due (UTC).
    scheduled_at: datetime
