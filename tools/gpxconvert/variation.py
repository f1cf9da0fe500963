"""Which of a config's values follow the CPU count or a variable it reads, and
how: the config is run again with each input varied alone, and every value
that changed is classified (dependency())."""

from __future__ import annotations

import os
import re

from gpxconvert.runner import run_scenarios

# What the config may depend on besides its own text: the CPU count, and the
# variables it reads. Each is varied in turn (one evaluation per value) to see
# which settings and variables follow it.
CPU_COUNTS = (1, 2, 3, 7)
NUMBER_PROBE = "7919"  # a value for a variable that passes int() and reads as itself
MAX_INPUTS = 16  # more variables read than this: the config reads the environment wholesale

def analyse(location: str, first: dict) -> tuple[dict, dict, dict]:
    """The report to convert, the environment it was evaluated in, and what
    depended on the machine or the environment.

    The report is the config's in the environment without the variables it
    reads (its own defaults), on this machine's CPUs; a variable it cannot run
    without keeps its value here. Then every input is varied alone: the CPU
    count (1, 2, 3, 7), each variable set to a number and to each short string
    of the config's code (the values a branch compares it with)."""
    inputs = list(first["reads"])
    deps = {"settings": {}, "env": {}, "inputs": inputs, "required": [], "cpus": os.cpu_count(),
            "unanalysed": []}
    if len(inputs) > MAX_INPUTS:
        deps["unanalysed"] = inputs
        inputs = []
    env = {k: v for k, v in os.environ.items() if k not in inputs}
    base = None
    for _ in range(len(inputs) + 1):
        base = run_scenarios(location, env, [{}], strict=False)[0]
        if "error" not in base:
            break
        missing = re.search(r"KeyError: '([^']+)'", base["error"])
        name = missing.group(1) if missing else None
        if name in inputs and name in os.environ and name not in env:
            env[name] = os.environ[name]
            deps["required"].append(name)
            continue
        base = None
        break
    if base is None:
        deps["unanalysed"] = sorted(set(deps["unanalysed"]) | set(inputs))
        env, inputs = dict(os.environ), []
        base = first
    dims, scenarios = [], [{}]
    if first["cpu_calls"]:
        for n in CPU_COUNTS:
            dims.append(("cpu", n))
            scenarios.append({"cpus": n})
    probes = [NUMBER_PROBE] + [c for c in first["constants"] if c != NUMBER_PROBE]
    for name in inputs:
        for value in probes:
            dims.append((name, value))
            scenarios.append({"set": {name: value}})
    results = run_scenarios(location, env, scenarios)
    base = results[0]
    deps["settings"], deps["env"] = classify(base, list(zip(dims, results[1:], strict=True)), deps)
    # A variable read only once another one holds a value (`A and B`, a
    # nested if): varied in that scenario too; whatever follows it there
    # depends on both, which no run-time form can say.
    nested_dims, nested = [], []
    for (dim, value), report in zip(dims, results[1:], strict=True):
        if dim == "cpu" or "error" in report:
            continue
        for name in report["reads"]:
            if name in inputs or name == dim or name in os.environ and name not in env:
                continue
            for probe in probes[:8]:
                nested_dims.append((dim, value, name, report))
                nested.append({"set": {dim: value, name: probe}})
    if nested:
        # at most 400 of them run: zip stops at the last one run
        others = run_scenarios(location, env, nested[:400], strict=False)
        for (dim, _value, name, report), other in zip(nested_dims, others, strict=False):
            if "error" in other:
                continue
            for kind, key in (("settings", "settings"), ("env", "env")):
                mine = report["settings"] if kind == "settings" else env_intents(report)
                theirs = other["settings"] if kind == "settings" else env_intents(other)
                for item in set(mine) | set(theirs):
                    if mine.get(item) != theirs.get(item) and item != name:
                        v0 = base["settings"].get(item) if kind == "settings" else env_intents(base).get(item)
                        default = _plain("setting" if kind == "settings" else "env", v0)
                        deps[key][item] = {"kind": "frozen", "on": sorted({dim, name}), "default": default,
                                           "here": default}
        deps["inputs"] = sorted(set(deps["inputs"]) | {d[2] for d in nested_dims})
    base["output"] = first.get("output", "")
    base["warnings"] = first.get("warnings", [])
    return base, env, deps


def env_intents(report: dict) -> dict:
    """What the config did to each variable it touched: [op, value], the last
    operation (set, setdefault, del)."""
    out = {}
    for op, key, value in report["env_ops"]:
        out[key] = [op, value]
    for key, value in report["env_changed"].items():
        out.setdefault(key, ["set", value])
    for key in report["env_removed"]:
        out.setdefault(key, ["del", None])
    return out


def classify(base: dict, variants: list, deps: dict) -> tuple[dict, dict]:
    """For each setting and variable the config gives a value: nothing when it
    follows no input, else how it follows one (see dependency())."""

    def items(report):
        if report is None or "error" in report:
            return None
        out = {("setting", k): v for k, v in report["settings"].items()}
        out.update({("env", k): v for k, v in env_intents(report).items()})
        return out

    base_items = items(base)
    by_dim: dict = {}
    for (dim, value), report in variants:
        by_dim.setdefault(dim, []).append((value, items(report)))
    keys = set(base_items)
    for seen in by_dim.values():
        for _, its in seen:
            keys |= set(its or ())
    settings, env = {}, {}
    for key in sorted(keys):
        kind, name = key
        v0 = base_items.get(key)
        varying = [dim for dim, seen in by_dim.items()
                   if dim != name and any(its is not None and its.get(key) != v0 for _, its in seen)]
        if not varying:
            continue
        dep = dependency(kind, name, v0, varying, by_dim, deps)
        (settings if kind == "setting" else env)[name] = dep
    return settings, env


def _plain(kind, value):
    """A setting's value as Python (a described class or hook is not plain: None), or
    a variable's [op, value]."""
    if kind == "env" or value is None:
        return value
    return value["v"] if value.get("t") == "value" else None


def dependency(kind: str, name: str, v0, varying: list, by_dim: dict, deps: dict) -> dict:
    """How a value follows its input:
    cpu       an integer a * CPUs + b ({"a", "b"})
    direct    the variable's own value when it is set, `default` when not
    template  a text around the variable's value ("0.0.0.0:%(_)")
    cases     `default`, but another value for some values of the variable
    any       one value whenever the variable is set, `default` when not
    frozen    none of these (or more than one input): the value here stays"""
    default = _plain(kind, v0)
    frozen = {"kind": "frozen", "on": varying, "default": default, "here": default}
    if (kind == "setting" and v0 is not None and v0.get("t") != "value") or len(varying) > 1:
        return frozen
    dim = varying[0]
    seen = [(value, _plain(kind, its.get((kind, name)))) for value, its in by_dim[dim] if its is not None]
    if dim == "cpu":
        values = dict(seen)
        if not all(isinstance(values.get(n), int) and not isinstance(values.get(n), bool) for n in CPU_COUNTS):
            return frozen
        a = values[2] - values[1]
        b = values[1] - a
        if a < 1 or any(values[n] != a * n + b for n in CPU_COUNTS):
            return frozen
        return {"kind": "cpu", "a": a, "b": b, "here": default, "cpus": deps["cpus"]}
    required = dim in deps["required"]

    def as_input(value, got):
        """`got` is the variable's own value, as the setting's type reads it."""
        if kind == "env":
            return got is not None and got[1] == value
        return got == value or got == [value] or (value.isdigit() and got == int(value))

    probe = dict(seen).get(NUMBER_PROBE)
    if any(v == NUMBER_PROBE for v, _ in seen) and all(as_input(v, g) for v, g in seen):
        return {"kind": "direct", "var": dim, "default": default, "required": required}
    text = probe[1] if kind == "env" and probe else probe[0] if isinstance(probe, list) and len(probe) == 1 else probe
    if isinstance(text, str) and text.count(NUMBER_PROBE) == 1:
        template = text.replace(NUMBER_PROBE, "%(_)")

        def fits(value, got):
            got = got[1] if kind == "env" and got else got[0] if isinstance(got, list) and len(got) == 1 else got
            return got == template.replace("%(_)", value)

        if all(fits(v, g) for v, g in seen):
            return {"kind": "template", "var": dim, "template": template, "default": default, "required": required}
    if required:
        return frozen
    if probe == default:
        cases = [[value, got] for value, got in seen if got != default]
        return {"kind": "cases", "var": dim, "cases": cases, "default": default}
    if all(got == probe for _, got in seen):
        return {"kind": "any", "var": dim, "value": probe, "default": default}
    return frozen

