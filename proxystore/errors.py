"""proxystore's exceptions: each carries one line that tells the user what is wrong and where."""

from __future__ import annotations


class ProxystoreError(Exception):
    """Base of every error proxystore reports to a user; the CLI prints it on one line, exit 2."""


class DatabaseError(ProxystoreError):
    """The database can't be reached, refused a statement, or is unusable."""


class SchemaVersionError(DatabaseError):
    """The database schema is not at the revision this proxystore expects."""


class SpecError(ProxystoreError, ValueError):
    """A study spec (or part of one) is malformed; the message names the field's path."""


class GenomeError(ProxystoreError, ValueError):
    """An architecture genome breaks a rule of its design space."""


class DataError(ProxystoreError):
    """A dataset or subset can't be found, read or built as declared."""


class NotFoundError(ProxystoreError, LookupError):
    """A named object (dataset, subset, architecture, study, run) is not in the database."""


class TrainingError(ProxystoreError):
    """A training run failed (diverged, ran out of memory); the run is recorded as failed."""


class ResultsFileError(ProxystoreError, ValueError):
    """A results file for `import-results` is malformed; the message names file, line and column."""


class UsageError(ProxystoreError, ValueError):
    """A command line names an unknown command or flag, or gives a value of the wrong type."""


class WorkerEnvironmentError(ProxystoreError):
    """This machine can't run cells (cache not writable, data unreadable, device unusable, disk
    full); `exit_code` is 2 when a worker refuses to start, 3 when it stops part-way."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
