"""Rendering DataFrames for the terminal: table, csv or json."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Literal

from proxystore.errors import ProxystoreError

if TYPE_CHECKING:  # the CLI imports FormatName at start; pandas only when rendering
    import pandas as pd

FORMATS = ("table", "csv", "json")
FormatName = Literal["table", "csv", "json"]  # as an annotation, the CLI checks --format first


def _jsonable(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value


def render(frame: pd.DataFrame, fmt: str = "table", *, float_digits: int = 4) -> str:
    """Return `frame` as text in `fmt` (table, csv or json records)."""
    if fmt not in FORMATS:
        raise ProxystoreError(f"unknown --format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        records = [{k: _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]
        return json.dumps(records, indent=1, default=str)
    if frame.empty:
        return "(no rows)" if len(frame.columns) else "(no result)"
    return frame.to_string(index=False, float_format=lambda x: f"{x:.{float_digits}g}")
