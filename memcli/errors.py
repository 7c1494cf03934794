"""Errors a user can act on. The CLI turns each into one line on stderr and its exit code:

    0 ok · 1 error (bad input, unusable database or model) · 2 usage (a wrong option, a missing argument or
    selector, an unknown choice) · 3 not found (a memory id that does not exist) · 4 busy (another process held
    the database past the 10 s busy timeout; retry) · 130 interrupted (Ctrl-C)
"""

from __future__ import annotations


class MemcliError(Exception):
    """Base class: anything memcli reports to the user instead of a traceback."""

    exit_code = 1


class InputError(MemcliError):
    """Input that cannot be stored as given (empty, binary, malformed); nothing is written."""


class UsageError(InputError):
    """The command was asked wrongly (a missing selector, a choice that does not exist): nothing was done."""

    exit_code = 2


class NotFound(InputError):
    """A memory (or other thing) named by id does not exist: nothing was done."""

    exit_code = 3


class DatabaseError(MemcliError):
    """The database path is not usable: not SQLite, not memcli's, unreadable, locked."""


class NoDatabaseYet(DatabaseError):
    """A reading command found no memory there yet (no file, an empty one, no schema on the server)."""


class DatabaseBusy(DatabaseError):
    """Another process held the write lock past the busy timeout: nothing was done; retry."""

    exit_code = 4


class ModelError(MemcliError):
    """The embedding model is missing, unloadable, or differs from the one the database was built with."""


class ExtensionError(MemcliError):
    """SQLite here cannot load extensions, so sqlite-vec is unavailable."""
