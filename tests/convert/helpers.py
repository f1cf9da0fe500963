"""What the converter's unit tests share: reports in the shape the evaluating
process writes, built in memory, and a reading of the ini."""

from __future__ import annotations

import argparse

from gpxconvert.mapping import Converter


def value(v) -> dict:
    """A setting as the evaluating process describes a plain value."""
    return {"t": "value", "v": v}


def report(settings: dict | None = None, env_ops=(), deps: dict | None = None, **extra) -> dict:
    """A config's report: `settings` are plain values by name, `env_ops`
    (op, VAR, value) what it did to os.environ."""
    env_ops = [list(op) for op in env_ops]
    changed = {key: val for op, key, val in env_ops if op in ("set", "setdefault")}
    removed = [key for op, key, _ in env_ops if op == "del"]
    out = {"config": "/srv/app/gunicorn.conf.py", "settings": {k: value(v) for k, v in (settings or {}).items()},
           "env_ops": env_ops, "env_changed": changed, "env_removed": removed, "env_respected": [],
           "env_fallback": {}, "ignored": {}, "logging": None, "warnings": [], "output": "",
           "deps": deps or {"settings": {}, "env": {}}}
    out.update(extra)
    return out


def args(app: str | None = None, wsgi_file: str | None = "app.py", plugin_dir: str | None = None):
    return argparse.Namespace(config="gunicorn.conf.py", app=app, wsgi_file=wsgi_file, plugin_dir=plugin_dir,
                              json=False)


def render(rep: dict, environ: dict | None = None, **kw) -> tuple[str, list[str]]:
    """The ini and the lines for standard error."""
    converter = Converter(rep, args(**kw), environ or {})
    return converter.render(), converter.flags


def option_lines(ini: str) -> list[str]:
    return [line for line in ini.splitlines() if line and not line.startswith((";", "["))]


def values(ini: str, key: str) -> list[str]:
    return [line.partition(" = ")[2] for line in option_lines(ini) if line.partition(" = ")[0] == key]


def has_block(ini: str, *lines: str) -> bool:
    """Whether these option lines follow each other in the ini."""
    opts = option_lines(ini)
    n = len(lines)
    return any(tuple(opts[i:i + n]) == lines for i in range(len(opts) - n + 1))
