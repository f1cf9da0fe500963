"""Runs the config in a separate python3 process (child/evaluate_config.py, with
the stand-in exporter package of child/stub first on its sys.path), once per
scenario, and reads its JSON reports."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from gpxconvert.errors import ConvertError
from gpxconvert.settings import HOOK_ARITY, SETTINGS

# Run as a script, not with -m: Python puts the script's directory first on
# sys.path, and the child replaces it with its stand-in package's, so that
# nothing of gpxconvert (nor a PYTHONPATH to find it) is visible to the config.
CHILD = Path(__file__).resolve().parent / "child" / "evaluate_config.py"
# The stand-in package's source, for a test that lets Gunicorn itself read a config.
STUB_INIT = (CHILD.parent / "stub" / "gunicorn_prometheus_exporter" / "__init__.py").read_text()
EVALUATION_TIMEOUT = 60  # seconds a config may take to evaluate


def run_scenarios(location: str, env: dict, scenarios: list[dict], strict: bool = True) -> list[dict]:
    """Evaluates the config in a separate python3 process, once per scenario
    (the first in `env` as it is); the JSON report of each. A report holds
    "error" when the config failed in that scenario; with `strict`, the
    first one failing is a ConvertError."""
    with tempfile.TemporaryDirectory(prefix="gpx-convert-") as tmp:
        spec = Path(tmp, "spec.json")
        spec.write_text(json.dumps({"kinds": {k: kind for k, (kind, _) in SETTINGS.items()}, "arity": HOOK_ARITY,
                                    "scenarios": scenarios}))
        result = Path(tmp, "result.json")
        try:
            proc = subprocess.run([sys.executable, str(CHILD), location, str(result), str(spec)], env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=EVALUATION_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise ConvertError(f"cannot evaluate {location}: it ran for more than {EVALUATION_TIMEOUT} s") from None
        if not result.exists():
            last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
            raise ConvertError(f"cannot evaluate {location}: {last}")
        reports = json.loads(result.read_text())
        reports[0]["output"] = proc.stdout + proc.stderr
    if strict and "error" in reports[0]:
        raise ConvertError(f"cannot evaluate {location}: {reports[0]['error']}")
    return reports


def run_config(location: str, env: dict) -> dict:
    return run_scenarios(location, env, [{}])[0]

