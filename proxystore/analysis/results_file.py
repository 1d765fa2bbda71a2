"""Reading a results CSV (and its task roles) for `import-results`, validated before any write."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from proxystore import yaml_strict
from proxystore.db.enums import TaskRole
from proxystore.errors import ResultsFileError
from proxystore.limits import integer_in

REQUIRED = ("candidate", "task", "seed", "error")
OPTIONAL_NUMBERS = ("top1_error", "top5_error", "best_error", "gpu_seconds", "epochs",
                    "task_num_classes", "cumulative_depth", "cumulative_width")
INTEGER_COLUMNS = ("seed", "epochs", "task_num_classes", "cumulative_depth", "cumulative_width")
ERROR_COLUMNS = ("error", "top1_error", "top5_error", "best_error")
STATUSES = ("done", "diverged")  # the optional status column; a diverged row has no error
COLUMNS = (*REQUIRED, *OPTIONAL_NUMBERS, "status")
# The smallest value each numeric column can hold (error columns are fractions in [0, 1]).
MINIMUM = {"seed": 0, "gpu_seconds": 0, "epochs": 1, "task_num_classes": 1,
           "cumulative_depth": 1, "cumulative_width": 1}
INTEGER_MAX = 2**31 - 1  # the database's INTEGER columns
TASK_KEYS = ("role", "proxy_of", "num_classes", "train_count", "epochs", "image_size",
             "eval_metric", "strategy")
TASK_ROLES = tuple(role.value for role in TaskRole)  # every role the database allows


@dataclass(frozen=True, kw_only=True)
class ResultsSummary:
    """What an import or an export of a results file counted: result rows, tasks, candidates.

    Each kind of summary says itself in one line by its `LINE` template (`s` is the summary).

    Example:
        >>> ResultsSummary(rows=12, tasks=2, candidates=6).line()
        '12 results (2 tasks, 6 candidates)'
    """

    LINE: ClassVar[str] = "{s.rows} results ({s.tasks} tasks, {s.candidates} candidates)"
    rows: int
    tasks: int
    candidates: int

    def line(self) -> str:
        """One line for the terminal."""
        return self.LINE.format(s=self)


@dataclass(frozen=True)
class TaskInfo:
    """A task's role and regime as declared for an import (None where unknown)."""

    label: str
    role: str = "other"
    proxy_of: str | None = None
    num_classes: int | None = None
    train_count: int | None = None
    epochs: int | None = None
    image_size: int | None = None
    eval_metric: str = "top1"
    strategy: str | None = None


@dataclass
class ResultsFile:
    """A validated results file: one record per row, the tasks and the candidates' shapes."""

    path: Path
    rows: list[dict[str, Any]]
    tasks: dict[str, TaskInfo]
    candidates: dict[str, dict[str, int | None]] = field(default_factory=dict)


def _number(path: Path, line: int, column: str, raw: str, integer: bool) -> float | int | None:
    text = raw.strip()
    if text == "" or text.lower() in ("nan", "na", "null", "none"):
        if column in REQUIRED:
            raise ResultsFileError(f"{path}: line {line}, column {column!r}: value is missing")
        return None
    try:
        value = float(text)
    except ValueError:
        raise ResultsFileError(
            f"{path}: line {line}, column {column!r}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ResultsFileError(f"{path}: line {line}, column {column!r}: {raw!r} is not finite")
    if column in ERROR_COLUMNS and not 0.0 <= value <= 1.0:
        raise ResultsFileError(
            f"{path}: line {line}, column {column!r}: {raw!r} is not an error fraction in [0, 1]")
    if column in MINIMUM and value < MINIMUM[column]:
        below = "negative" if MINIMUM[column] == 0 else f"below {MINIMUM[column]}"
        raise ResultsFileError(f"{path}: line {line}, column {column!r}: {raw!r} is {below}")
    if integer:
        if not value.is_integer():
            raise ResultsFileError(
                f"{path}: line {line}, column {column!r}: {raw!r} is not an integer")
        if value > INTEGER_MAX:
            raise ResultsFileError(f"{path}: line {line}, column {column!r}: {raw!r} is above "
                                   f"{INTEGER_MAX:,}, the largest integer the database holds")
        return int(value)
    return value


def _read_csv(path: Path) -> tuple[int, list[str], list[tuple[int, dict[str, str]]]]:
    """Return the header's line, its column names and (line, record) of every other row.

    The header must name each known column at most once and nothing else; every row must have
    one field per column (pandas would take an extra field for an index and shift the row).
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            records = [(reader.line_num, fields) for fields in reader
                       if len(fields) > 1 or "".join(fields).strip()]  # blank lines skipped
    except UnicodeDecodeError as error:
        raise ResultsFileError(f"{path}: not a readable CSV: not UTF-8 text ({error.reason} "
                               f"at byte {error.start})") from None
    except csv.Error as error:
        raise ResultsFileError(f"{path}: not a readable CSV: {error}") from None
    if not records:
        raise ResultsFileError(f"{path}: not a readable CSV: the file is empty, with no header")
    (header_line, names), rows = records[0], records[1:]
    names = [name.strip() for name in names]
    for index, name in enumerate(names):
        where = f"{path}: line {header_line}, column {name!r}"
        if not name:
            raise ResultsFileError(f"{path}: line {header_line}: column {index + 1} of the "
                                   "header has no name")
        if name not in COLUMNS:
            raise ResultsFileError(f"{where}: unknown column; the known ones are "
                                   f"{', '.join(COLUMNS)}")
        if name in names[:index]:
            raise ResultsFileError(f"{where}: given twice in the header (columns "
                                   f"{names.index(name) + 1} and {index + 1})")
    out = []
    for line, fields in rows:
        if len(fields) != len(names):
            detail = (f"an extra field {fields[len(names)]!r}" if len(fields) > len(names)
                      else f"no field for column {names[len(fields)]!r}")
            raise ResultsFileError(f"{path}: line {line}: {len(fields)} fields where the header "
                                   f"has {len(names)} columns ({detail})")
        for name, value in zip(names, fields, strict=True):
            if "\x00" in value:  # PostgreSQL text can't hold it; refuse on every database
                raise ResultsFileError(f"{path}: line {line}, column {name!r}: the value holds "
                                       "a NUL byte (\\x00)")
        out.append((line, dict(zip(names, fields, strict=True))))
    return header_line, names, out


def _yaml(text: str, where: str) -> Any:
    try:
        return yaml_strict.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise ResultsFileError(f"{where}: not valid JSON or YAML{line}: "
                               f"{getattr(error, 'problem', None) or error}") from None


def sidecar(path: Path) -> Path | None:
    """Return the roles file beside a results CSV (FILE.roles.yaml, else FILE.yaml), if any."""
    for candidate in (path.with_suffix(".roles.yaml"), path.with_suffix(".yaml")):
        if candidate.is_file():
            return candidate
    return None


def roles_mapping(roles: Any, path: Path) -> Any:
    """Return the parsed roles (a file's, JSON or YAML text's, or the sidecar's); None if none."""
    if roles is None:
        roles = sidecar(path)
        if roles is None:
            return None
    if isinstance(roles, (str, Path)) and Path(str(roles)).is_file():
        return _yaml(Path(str(roles)).read_text(encoding="utf-8"), str(roles)) or {}
    if isinstance(roles, str):
        try:
            return json.loads(roles)
        except json.JSONDecodeError:
            return _yaml(roles, "--roles")
    return roles


def load_roles(roles: Any, path: Path) -> dict[str, dict[str, Any]]:
    """Return label -> task attributes from a dict, JSON text, a YAML file, or FILE's sidecar.

    Args:
        roles: a mapping (label -> role name or attribute dict), JSON text of one, a path to a
            YAML file holding one (optionally under a top-level ``tasks`` key), or None to read
            the sidecar ``FILE.yaml`` / ``FILE.roles.yaml`` beside the CSV when present.
        path: the results CSV.
    """
    roles = roles_mapping(roles, path)
    if roles is None:
        return {}
    if isinstance(roles, dict) and "datasets" in roles and isinstance(roles.get("tasks"), dict):
        return _spec_roles(roles)
    if isinstance(roles, dict) and isinstance(roles.get("tasks"), (dict, list)):
        roles = roles["tasks"]
    if isinstance(roles, list):  # a spec-like list of {label: ..., role: ...}
        roles = {str(t.get("label", t.get("name"))): t for t in roles if isinstance(t, dict)}
    if not isinstance(roles, dict):
        raise ResultsFileError(f"task roles for {path} must map task labels to roles, "
                               f"got {type(roles).__name__}")
    out: dict[str, dict[str, Any]] = {}
    for label, value in roles.items():
        attrs = {"role": value} if isinstance(value, str) else dict(value or {})
        unknown = sorted(set(attrs) - set(TASK_KEYS) - {"label", "name"})
        if unknown:
            raise ResultsFileError(f"task {label!r} in the roles: unknown keys {unknown}")
        out[str(label)] = {k: v for k, v in attrs.items() if k in TASK_KEYS}
    return out


def _spec_roles(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return the roles of a study spec's tasks, with epochs and metric as its cells train.

    A spec's task also holds its dataset, subset and recipe keys; only TASK_KEYS are taken, and
    epochs, image_size and eval_metric fall back to the spec's `defaults`.
    """
    defaults: dict[str, Any] = spec.get("defaults") or {}
    if not isinstance(defaults, dict):
        defaults = {}
    out: dict[str, dict[str, Any]] = {}
    for label, task in spec["tasks"].items():
        task = task if isinstance(task, dict) else {}
        attrs: dict[str, Any] = {k: defaults[k] for k in ("epochs", "image_size", "eval_metric")
                                 if k in defaults}
        attrs.update({k: v for k, v in task.items() if k in TASK_KEYS})
        out[str(label)] = attrs
    return out


def _task_info(label: str, declared: dict[str, Any], from_csv: dict[str, int | None]) -> TaskInfo:
    attrs = {k: v for k, v in from_csv.items() if v is not None}
    attrs.update({k: v for k, v in declared.items() if v is not None})
    for name in ("num_classes", "train_count", "epochs", "image_size"):
        value = attrs.get(name)
        if value is not None and not integer_in(value, 1, INTEGER_MAX):
            raise ResultsFileError(f"task {label!r} in the roles: {name} must be a positive "
                                   f"integer, got {value!r}")
    role = attrs.get("role", "other")
    if role not in TASK_ROLES:
        raise ResultsFileError(
            f"task {label!r}: role {role!r} is not one of {', '.join(TASK_ROLES)}")
    if attrs.get("eval_metric", "top1") not in ("top1", "top5"):
        raise ResultsFileError(f"task {label!r}: eval_metric must be top1 or top5")
    if role == "proxy" and not attrs.get("proxy_of"):
        raise ResultsFileError(f"task {label!r} is a proxy but names no proxy_of (its target)")
    return TaskInfo(label=label, **attrs)  # type: ignore[arg-type]  # checked above


def read_results(path: str | Path, roles: Any = None) -> ResultsFile:
    """Read and validate a results CSV; raise ResultsFileError naming file, line and column.

    Args:
        path: the CSV with columns candidate, task, seed, error (and optional ones).
        roles: task roles, as `load_roles` accepts.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultsFileError(f"{path}: no such file")
    header_line, columns, records = _read_csv(path)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ResultsFileError(f"{path}: line {header_line}: missing required column(s) "
                               f"{', '.join(missing)}")
    declared = load_roles(roles, path)
    present = [c for c in OPTIONAL_NUMBERS if c in columns]
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, int], int] = {}
    task_csv: dict[str, dict[str, int | None]] = {}
    candidates: dict[str, dict[str, int | None]] = {}
    for line, record in records:
        row: dict[str, Any] = {}
        for column in ("candidate", "task"):
            row[column] = str(record[column]).strip()
            if not row[column]:
                raise ResultsFileError(f"{path}: line {line}, column {column!r}: value is missing")
        row["status"] = _status(path, line, record)
        for column in ("seed", "error", *present):
            if column == "error" and row["status"] == "diverged":
                row["error"] = None
                continue
            row[column] = _number(path, line, column, record[column], column in INTEGER_COLUMNS)
        key = (row["candidate"], row["task"], row["seed"])
        if key in seen:
            raise ResultsFileError(f"{path}: line {line}: candidate {key[0]!r}, task {key[1]!r}, "
                                   f"seed {key[2]} already on line {seen[key]}")
        seen[key] = line
        _agree(task_csv.setdefault(row["task"], {}), path, line,
               {"num_classes": row.get("task_num_classes"), "epochs": row.get("epochs")})
        _agree(candidates.setdefault(row["candidate"], {}), path, line,
               {"cumulative_depth": row.get("cumulative_depth"),
                "cumulative_width": row.get("cumulative_width")})
        rows.append(row)
    if not rows:
        raise ResultsFileError(f"{path}: no result rows")
    tasks = {label: _task_info(label, declared.get(label, {}), attrs)
             for label, attrs in task_csv.items()}
    for info in tasks.values():
        if info.proxy_of is not None and info.proxy_of not in tasks:
            raise ResultsFileError(f"task {info.label!r} is a proxy of {info.proxy_of!r}, "
                                   f"which has no rows in {path}")
    return ResultsFile(path=path, rows=rows, tasks=tasks, candidates=candidates)


def _status(path: Path, line: int, record: dict[str, str]) -> str:
    """Return a row's status (done when absent or blank); a diverged row has no error."""
    status = record.get("status", "").strip().lower() or "done"
    if status not in STATUSES:
        raise ResultsFileError(f"{path}: line {line}, column 'status': {record['status']!r} is not "
                               f"one of {', '.join(STATUSES)}")
    if status == "diverged" and record["error"].strip() not in ("", "nan", "NaN", "NA"):
        raise ResultsFileError(f"{path}: line {line}, column 'error': a diverged run has no error "
                               f"(leave it empty), got {record['error']!r}")
    return status


def _agree(known: dict[str, int | None], path: Path, line: int,
           values: dict[str, int | None]) -> None:
    """Record per-task or per-candidate values, refusing a row that contradicts an earlier one."""
    for name, value in values.items():
        if value is None:
            continue
        if known.get(name) is not None and known[name] != value:
            raise ResultsFileError(f"{path}: line {line}: {name} {value} contradicts "
                                   f"{known[name]} on an earlier row of the same task/candidate")
        known[name] = value
