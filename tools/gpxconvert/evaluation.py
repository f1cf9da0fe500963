"""What a Gunicorn config evaluates to: its settings, what it did to the
environment, and (through variation) what followed the machine or the
environment where it ran."""

from __future__ import annotations

import os

from gpxconvert.errors import ConvertError
from gpxconvert.runner import run_config
from gpxconvert.variation import analyse

PROBE = "__gpx_convert_probe__"

def evaluate(location: str) -> dict:
    if not location.startswith("python:"):
        filename = location[len("file:"):] if location.startswith("file:") else location
        if not os.path.isfile(filename):
            raise ConvertError(f"{filename}: no such file")
    first = run_config(location, dict(os.environ))
    report, env, deps = first, dict(os.environ), {"settings": {}, "env": {}}
    inputs = list(first["reads"])
    if inputs or first["cpu_calls"]:
        report, env, deps = analyse(location, first)
    # An assignment (os.environ[VAR] = value) may still leave a value already
    # in the environment alone (`os.environ.get(VAR, value)`, an `if`): two
    # more evaluations tell, one without those variables (the config's own
    # values) and one with them set (which of them survive).
    forced = sorted({key for op, key, _ in report["env_ops"] if op == "set"})
    report["env_respected"] = []
    report["env_fallback"] = {}
    if forced:
        try:
            absent = run_config(location, {k: v for k, v in env.items() if k not in forced})
            probe = run_config(location, {**env, **{key: PROBE for key in forced}})
        except ConvertError:
            absent = probe = None
        if absent is not None:
            report["env_fallback"] = {key: absent["env_changed"][key] for key in forced
                                      if key in absent["env_changed"]}
            report["env_respected"] = [key for key in forced
                                       if key not in probe["env_changed"] and key not in probe["env_removed"]]
    report["deps"] = deps
    report["output"] = first.get("output", "")
    return report

