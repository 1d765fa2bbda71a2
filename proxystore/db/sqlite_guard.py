"""What `proxystore sql` may do on SQLite: an authorizer that lets reads through and nothing else.

The connection is already read-only (mode=ro, PRAGMA query_only), but read-only SQLite can still
create files (ATTACH and VACUUM INTO create their target), turn query_only off (a PRAGMA) and
call whatever functions are registered. The authorizer denies ATTACH/DETACH, every PRAGMA
outside a short list of reads, every function outside an allowlist, and every statement kind
other than SELECT.
"""

from __future__ import annotations

import sqlite3

# Functions the views and ordinary analysis SELECTs use. Not here on purpose: load_extension,
# fts3_tokenizer, fts5, rtreecheck, readfile/writefile/edit (shell extensions), zeroblob and
# randomblob (memory), sqlite_* introspection.
ALLOWED_FUNCTIONS = frozenset({
    # aggregates
    "avg", "count", "sum", "total", "min", "max", "group_concat", "string_agg",
    # window functions
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    # math (sqrt and power are also registered by proxystore for SQLite builds without them)
    "abs", "round", "sqrt", "power", "pow", "exp", "ln", "log", "log2", "log10", "floor",
    "ceil", "ceiling", "sign", "mod", "pi", "trunc", "sin", "cos", "tan", "asin", "acos",
    "atan", "atan2", "degrees", "radians", "random",
    # strings
    "length", "octet_length", "lower", "upper", "substr", "substring", "trim", "ltrim",
    "rtrim", "replace", "instr", "printf", "format", "char", "unicode", "hex", "quote",
    "like", "glob", "concat", "concat_ws",
    # nulls and types
    "coalesce", "ifnull", "nullif", "iif", "typeof", "likely", "unlikely", "likelihood",
    # dates
    "date", "time", "datetime", "julianday", "strftime", "unixepoch", "timediff",
    # JSON
    "json", "json_extract", "->", "->>", "json_array", "json_object", "json_array_length",
    "json_type", "json_valid", "json_quote", "json_group_array", "json_group_object",
})
# PRAGMAs that only read; those in OBJECT_PRAGMAS take the name of a table or index.
OBJECT_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info",
                            "index_xinfo", "foreign_key_list"})
READ_PRAGMAS = OBJECT_PRAGMAS | frozenset({
    "table_list", "database_list", "collation_list", "function_list", "pragma_list",
    "compile_options", "user_version", "schema_version", "application_id", "encoding",
    "page_count", "page_size", "freelist_count", "journal_mode", "foreign_keys",
    "integrity_check", "quick_check", "foreign_key_check", "data_version",
})
_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_NAMES = {
    sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_INSERT: "INSERT", sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE", sqlite3.SQLITE_TRANSACTION: "transaction control",
    sqlite3.SQLITE_SAVEPOINT: "SAVEPOINT", sqlite3.SQLITE_ANALYZE: "ANALYZE",
    sqlite3.SQLITE_REINDEX: "REINDEX", sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE",
}
_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema", "sqlite_temp_master")


class ReadOnlyAuthorizer:
    """A sqlite3 authorizer that allows reads only and remembers what it denied."""

    def __init__(self) -> None:
        self.denied: list[str] = []

    def describe(self) -> str:
        """What was denied, the first three and a count of the rest."""
        more = len(self.denied) - 3
        return ", ".join(self.denied[:3]) + (f" and {more} more" if more > 0 else "")

    def __call__(self, action: int, arg1: str | None, arg2: str | None, _db: str | None,
                 _source: str | None) -> int:
        """Return SQLITE_OK for a read, SQLITE_DENY (recording why) for anything else."""
        reason = _refusal(action, arg1, arg2)
        if reason is None:
            return sqlite3.SQLITE_OK
        if reason not in self.denied:
            self.denied.append(reason)
        return sqlite3.SQLITE_DENY


def _refusal(action: int, arg1: str | None, arg2: str | None) -> str | None:
    if action in _READS:
        return None
    if action == sqlite3.SQLITE_FUNCTION:
        name = (arg2 or "").lower()
        return None if name in ALLOWED_FUNCTIONS else f"function {name}()"
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in READ_PRAGMAS and (arg2 is None or name in OBJECT_PRAGMAS):
            return None
        return f"PRAGMA {name}" + (f" = {arg2}" if arg2 is not None else "")
    if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
        # Reported while SQLite sets up a table-valued function (json_each, pragma_table_info);
        # a real write to the schema table is still refused by mode=ro and query_only.
        return None
    if arg1 in _SCHEMA_TABLES:  # CREATE and DROP write the schema table before their own check
        return f"CREATE or DROP (a write to {arg1})"
    name = _NAMES.get(action) or next(
        (n[len("SQLITE_"):].replace("_", " ") for n in dir(sqlite3)
         if n.startswith(("SQLITE_CREATE", "SQLITE_DROP")) and getattr(sqlite3, n) == action),
        f"statement kind {action}")
    return name + (f" {arg1}" if arg1 else "")
