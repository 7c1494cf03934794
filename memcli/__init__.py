"""memcli: local-first long-term memory for people and LLM agents.

    from memcli import Memory, RawInput
    with Memory("/tmp/m.db") as mem:
        mem.remember([RawInput("arg", "I moved to Lisbon in March")])
        for hit in mem.recall("where do I live?"):
            print(hit.score, hit.text)
"""

__version__ = "0.1.0"

__all__ = ["Memory", "RawInput", "Filters", "Hit", "RememberResult", "RecallOptions", "__version__"]


def __getattr__(name):  # lazy: `import memcli` stays cheap for --help and completion
    if name in ("Memory", "RawInput", "Hit", "RememberResult", "RecallOptions"):
        from . import core

        return getattr(core, name)
    if name == "Filters":
        from .types import Filters

        return Filters
    raise AttributeError(name)
