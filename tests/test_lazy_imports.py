"""Commands that need no model and no vectors must not import numpy or llama.cpp: `--help`, completion and
`consolidate --cron-line` are run interactively and from shell startup files, where every 50 ms shows."""

import subprocess
import sys

import pytest

PROBE = """
import runpy, sys
sys.argv = ["memcli", *sys.argv[1:]]
try:
    runpy.run_module("memcli", run_name="__main__")
except SystemExit:
    pass
heavy = sorted(m for m in ("numpy", "llama_cpp", "sqlite_utils") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["recall", "--help"], ["consolidate", "--cron-line"]])
def test_light_commands_stay_light(args, tmp_path):
    r = subprocess.run([sys.executable, "-c", PROBE, "--db", str(tmp_path / "m.db"), *args],
                       capture_output=True, text=True, timeout=60)
    heavy = [line for line in r.stderr.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], r.stderr[-2000:]
