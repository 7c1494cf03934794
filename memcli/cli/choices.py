"""The fixed choices of the command line, as Enums: typer turns them into choices that help lists, shell
completion offers and the parser checks (a wrong one is a usage error, exit 2)."""

from __future__ import annotations

from enum import Enum

from ..config import KEYS
from ..types import KINDS

Kind = Enum("Kind", {k: k for k in KINDS}, type=str)  # type: ignore[misc]
ConfigKey = Enum("ConfigKey", {k: k for k in KEYS}, type=str)  # type: ignore[misc]


class TimeField(str, Enum):
    occurred = "occurred"
    created = "created"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


class Role(str, Enum):
    embedder = "embedder"
    reranker = "reranker"
    generator = "generator"


class OnOff(str, Enum):
    on = "on"
    off = "off"


def value(choice) -> str | None:
    """The plain string of a choice (None stays None)."""
    return None if choice is None else str(choice.value)
