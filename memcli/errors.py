"""Errors a user can act on. The CLI turns each into one line on stderr and its exit code."""

from __future__ import annotations


class MemcliError(Exception):
    """Base class: anything memcli reports to the user instead of a traceback."""

    exit_code = 1


class InputError(MemcliError):
    """Input that cannot be stored as given (empty, binary, malformed); nothing is written."""


class DatabaseError(MemcliError):
    """The database path is not usable: not SQLite, not memcli's, unreadable, locked."""


class ModelError(MemcliError):
    """The embedding model is missing, unloadable, or differs from the one the database was built with."""


class ExtensionError(MemcliError):
    """SQLite here cannot load extensions, so sqlite-vec is unavailable."""
