"""The storage-contract fixtures of the main test suite: these tests run on SQLite, then on Postgres."""

from tests.conftest import backend, make_target, pg_server, target  # noqa: F401
