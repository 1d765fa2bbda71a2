"""The store: every read and write of proxystore's tables, one module per aggregate.

Functions here take a `Database` (or an open session where a caller needs one transaction) and
return plain frozen dataclasses or builtin values. ORM classes never leave `proxystore.db`: the
rest of the package calls these functions and never builds a query itself.
"""
