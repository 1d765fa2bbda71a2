"""The fixed vocabularies of the database: run status, task role, failure kind.

Each is a `StrEnum`, so a member is its string (`RunStatus.DONE == "done"`) and can be written to
a column or compared with a value read back. The CHECK constraints in `models.py` are built from
them by `check_in`, and tests compare them with the migrations and the study schema, so a new
value can't reach one place and not the others. Changing a constraint's values changes its text,
which needs a migration.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Where a run is: pending -> running -> done | failed; cancelled when withdrawn."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskRole(StrEnum):
    """A study task's role in the analysis.

    `SCORER` is allowed by the database (and by `import-results` files) but no spec names it:
    dropping it would change the CHECK constraint and need a migration.
    """

    REFERENCE = "reference"
    FAMILY = "family"
    TARGET = "target"
    PROXY = "proxy"
    SCORER = "scorer"
    OTHER = "other"


class Failure(StrEnum):
    """Why a run is not done (the `runs.failure` column; no CHECK constraint).

    `stale`: its worker vanished (lease expired); `error`: training raised; `diverged`: the loss
    became NaN/inf; `oom`: out of memory; `interrupted`: stopped by the user; `environment`: the
    worker's machine was broken, so the cell went back without using an attempt.
    """

    STALE = "stale"
    ERROR = "error"
    DIVERGED = "diverged"
    OOM = "oom"
    INTERRUPTED = "interrupted"
    ENVIRONMENT = "environment"


# The roles a study spec may give a task (the JSON schema's enum and spec.ROLES).
SPEC_ROLES = tuple(role for role in TaskRole if role is not TaskRole.SCORER)


def check_in(column: str, values: type[StrEnum]) -> str:
    """The SQL of a CHECK constraint that `column` holds one of `values`, in declaration order."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"
