"""Who may run `proxystore sql` on PostgreSQL: nobody whose one statement could leave the database.

A READ ONLY transaction stops writes to tables, not a superuser's COPY ... TO PROGRAM,
pg_read_file, pg_terminate_backend or pg_reload_conf, and a superuser session can
`set_config('role', ...)` its way back from any role it switched to. Blocklisting functions
can't keep up with that, so `sql` refuses such a connection outright and points at a reader role.
"""

from __future__ import annotations

from typing import Any

from proxystore.errors import DatabaseError

# Predefined roles whose members can run programs, touch server files, or stop other sessions.
DANGEROUS_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files",
                   "pg_signal_backend")

# The session user (not current_user: SET ROLE can be undone inside one statement) and every
# superuser or dangerous role it is a member of, directly or through other roles.
_POWERS = """
SELECT session_user, r.rolname, r.rolsuper
FROM pg_roles r
WHERE (r.rolsuper OR r.rolname = ANY(%s)) AND pg_has_role(session_user, r.oid, 'MEMBER')
ORDER BY r.rolsuper DESC, r.rolname
"""


def powers(cursor: Any) -> tuple[str, list[str]]:
    """Return the session user and what makes it unsafe for `sql` (empty when it is safe)."""
    cursor.execute(_POWERS, (list(DANGEROUS_ROLES),))
    rows = cursor.fetchall()
    if not rows:
        cursor.execute("SELECT session_user")
        return str(cursor.fetchone()[0]), []
    user = str(rows[0][0])
    if any(row[2] for row in rows):
        supers = [str(row[1]) for row in rows if row[2]]
        return user, ["a superuser" if supers == [user] or user in supers
                      else f"a member of superuser role {supers[0]}"]
    return user, [f"a member of {row[1]}" for row in rows]


def refuse_powerful(cursor: Any, where: str) -> None:
    """Raise DatabaseError when the connection's user could escape a read-only statement.

    Args:
        cursor: a psycopg cursor on the connection `sql` will use.
        where: the database URL without its password, for the message.
    """
    user, why = powers(cursor)
    if why:
        raise DatabaseError(
            f"proxystore sql refuses to run as {user} on {where}: {user} is {' and '.join(why)}, "
            "so one statement could run programs, read or write server files or stop other "
            "sessions; make a read-only role with `proxystore db grant-reader READER --db "
            f"{where}` and query with --db postgresql://READER@HOST:PORT/DB (docs/security.md)")
