"""The ini being written: the config's values, option and comment lines, and
the run-time forms (`%k` math, if-env blocks, `$(VAR)`) of values that
depended on where gpx-convert ran, with the lines it prints about them."""

from __future__ import annotations

import os
import re

from gpxconvert.settings import defaults
from gpxconvert.uwsgi_values import cpu_expr, escape


class IniWriter:
    """The lines of the ini and what they are written from; Converter fills it."""

    def __init__(self, report: dict, args, environ):
        self.report = report
        self.args = args
        self.environ = environ
        self.explicit = {name: desc for name, desc in report["settings"].items()}
        # Gunicorn's own defaults without the variables it takes two of them
        # from ($PORT, $WEB_CONCURRENCY): those are run-time forms below.
        self.defaults = defaults({k: v for k, v in environ.items() if k not in ("PORT", "WEB_CONCURRENCY")})
        self.done: set[str] = set()
        self.plugins = ["python3"]
        self.lines: list[str] = []
        self.config_name = os.path.basename(report.get("config") or args.config)
        self.workers_count = 1
        self.mode = "sync"
        deps = report.get("deps") or {}
        self.setting_deps = dict(deps.get("settings") or {})
        self.env_deps = dict(deps.get("env") or {})
        if "bind" not in self.explicit:
            self.setting_deps["bind"] = {"kind": "template", "var": "PORT", "template": "0.0.0.0:%(_)",
                                         "default": self.defaults["bind"], "required": False, "gunicorn": True}
        if "workers" not in self.explicit:
            self.setting_deps["workers"] = {"kind": "direct", "var": "WEB_CONCURRENCY", "default": 1,
                                            "required": False, "gunicorn": True}
        self.unanalysed = deps.get("unanalysed") or []
        self.required = deps.get("required") or []
        self.cpus = deps.get("cpus") or os.cpu_count()
        self.dep_done: set[str] = set()
        self.flags: list[str] = []
        self.placeholders: set[str] = set()

    # values
    def value(self, name):
        desc = self.explicit.get(name)
        if desc is None:
            return self.defaults[name]
        if desc["t"] == "value":
            return desc["v"]
        return desc

    def is_set(self, name) -> bool:
        return name in self.explicit

    def show(self, name) -> str:
        desc = self.explicit.get(name)
        if desc is None:
            text = repr(self.defaults[name])
        elif desc["t"] == "value":
            text = repr(desc["v"])
        elif desc["t"] in ("class", "callable"):
            text = desc["name"]
            if text.startswith("__config__."):
                text = text[len("__config__."):]  # defined in the config file itself
            if desc.get("stub") is None and desc.get("file") and desc.get("line"):
                text += f" ({os.path.basename(desc['file'])}, line {desc['line']})"
        else:
            text = desc["v"]
        text = " ".join(text.split())
        if len(text) > 160:
            text = text[:157] + "..."
        return text + ("" if name in self.explicit else " (Gunicorn's default)")

    # output
    def out(self, line=""):
        self.lines.append(line)

    def comment(self, text):
        self.out("; " + text)

    def opt(self, key, value, raw=False):
        self.out(f"{key} = {value if raw else escape(value)}".rstrip())

    def mapped(self, name, text):
        self.comment(f"{name} = {self.show(name)} -> {text}")
        self.done.add(name)
        self.frozen_note(name)

    def not_mapped(self, name, why):
        self.comment(f"not mapped: {name} = {self.show(name)}: {why}")
        self.done.add(name)
        self.frozen_note(name)

    # values that depended on the machine or the environment where gpx-convert ran
    def flag(self, text):
        """One line on standard error for each such value."""
        self.flags.append("gpx-convert: " + text)

    @staticmethod
    def shown_value(value) -> str:
        if isinstance(value, list) and len(value) == 2 and value[0] in ("set", "setdefault", "del"):
            return "removed" if value[0] == "del" else repr(value[1])
        return "not set" if value is None else repr(value)

    def depends_on(self, dep) -> str:
        kind = dep["kind"]
        if kind == "cpu":
            return f"this machine's CPU count ({dep['cpus']})"
        if kind in ("direct", "template"):
            return f"${dep['var']}" + (" (the config cannot run without it)" if dep.get("required") else "")
        if kind == "cases":
            cases = "; ".join(f"{dep['var']}={c!r}: {self.shown_value(v)}" for c, v in dep["cases"])
            return f"${dep['var']} ({cases}; otherwise {self.shown_value(dep['default'])})"
        if kind == "any":
            return (f"${dep['var']} ({self.shown_value(dep['value'])} when it is set, "
                    f"{self.shown_value(dep['default'])} when not)")
        return " and ".join(f"this machine's CPU count ({self.cpus})" if d == "cpu" else f"${d}" for d in dep["on"])

    RUNTIME_NUMBERS = ("workers", "threads", "worker_connections", "timeout", "graceful_timeout", "max_requests",
                       "backlog")

    def runtime_form(self, name):
        """The dependency of a setting that is written in uWSGI's run-time form, or None."""
        dep = self.setting_deps.get(name)
        if dep is None or dep["kind"] == "frozen":
            return None
        values = [dep.get("default"), dep.get("value")] + [v for _, v in dep.get("cases", [])]
        if name in self.RUNTIME_NUMBERS and dep["kind"] in ("cpu", "direct", "cases", "any"):
            if all(v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 0) for v in values):
                return dep
        if name == "bind" and dep["kind"] in ("direct", "template", "cases", "any"):
            if all(v is None or (isinstance(v, list) and len(v) == 1) for v in values):
                return dep
        return None

    def frozen_note(self, name):
        """A setting whose value depended on where gpx-convert ran, with no
        run-time form: a comment on its line and a line on standard error."""
        dep = self.setting_deps.get(name)
        if dep is None or name in self.dep_done or self.runtime_form(name) is not None:
            return
        self.dep_done.add(name)
        here = self.value(name)
        here = here.get("name", "?") if isinstance(here, dict) else here
        self.comment(f"(!) {name} depends on {self.depends_on(dep)}: frozen at {here!r}, its value "
                     f"{self.frozen_context(dep)}; edit the lines below for another machine or environment")
        self.flag(f"{name} = {here!r} depends on {self.depends_on(dep)}: frozen in the ini at its value "
                  f"{self.frozen_context(dep)}")

    def frozen_context(self, dep) -> str:
        """Where a frozen value is from: this machine, the variables unset."""
        on = dep.get("on") or ([dep["var"]] if dep.get("var") else ["cpu"])
        parts = ["on this machine"] if "cpu" in on else []
        unset = [f"${v}" for v in on if v != "cpu" and v not in self.required]
        kept = [f"${v}" for v in on if v in self.required]
        if unset:
            parts.append(f"with {' and '.join(unset)} unset")
        if kept:
            parts.append(f"with {' and '.join(kept)} as set where gpx-convert ran")
        return ", ".join(parts)

    def placeholder(self, base) -> str:
        name = "gunicorn_" + re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_")
        while name in self.placeholders:
            name += "_"
        self.placeholders.add(name)
        return name

    def chain(self, key, cases, default, suffix="", prefix="", base=None):
        """`key` takes the first matching case, else `default`: uWSGI's config
        logic cannot nest, so each case sets a placeholder (the first one set
        wins) and the option reads it. cases: (condition, value); a condition
        is `VAR` or `VAR=value`, a value is written as it is (escaped by the
        caller) and may be `%(_)`, the variable's value. The line is `key =
        prefix%(placeholder)suffix`; the placeholder is named after `base`
        (default `key`)."""
        name = self.placeholder_cases(base or key, cases, escape(default))
        self.opt(key, f"{prefix}%({name}){suffix}", raw=True)

    def placeholder_cases(self, base, cases, default) -> str:
        """A placeholder named after `base` that takes the value of the first
        case whose condition holds where uWSGI starts, else `default` (all
        written as they are): one `if-env` block per case, each setting it
        only when no earlier one did. Returns its name."""
        name = self.placeholder(base)
        for condition, value in cases:
            self.opt("if-env", condition)
            self.opt("set-placeholder", f"{name}={value}", raw=True)
            self.opt("endif", "", raw=True)
        self.opt("set-placeholder", f"{name}={default}", raw=True)
        return name

    def setting_opt(self, name, key, value):
        """`key = value` for a number setting, in uWSGI's run-time form when the
        value depended on the CPU count or a variable: `%k` math, if-env blocks,
        or `$(VAR)`."""
        dep = self.runtime_form(name)
        if dep is None:
            self.opt(key, value)
            return
        self.dep_done.add(name)
        kind = dep["kind"]
        default = dep.get("default")
        default = self.defaults[name] if default is None else default
        gunicorn = " (Gunicorn's default takes it from there)" if dep.get("gunicorn") else ""
        if kind == "cpu":
            form = cpu_expr(dep["a"], dep["b"])
            self.comment(f"(!) {name} = {dep['here']} here, from {self.depends_on(dep)}: {key} = {form} computes "
                         "it from the CPU count where uWSGI starts (%k)")
            self.opt(key, form, raw=True)
            self.flag(f"{name} = {dep['here']} depends on {self.depends_on(dep)}: written as {key} = {form}, "
                      "computed where uWSGI starts")
            return
        var = dep["var"]
        if kind == "direct" and dep.get("required"):
            self.comment(f"(!) {name} is ${var}{gunicorn}: {key} = $({var}) takes it where uWSGI starts")
            self.opt(key, f"$({var})", raw=True)
            self.flag(f"{name} depends on ${var}: written as {key} = $({var})")
            return
        if kind == "direct":
            self.comment(f"(!) {name} is ${var} when it is set{gunicorn}, else {default}: the same where uWSGI "
                         "starts")
            pairs = [(var, "%(_)", default)]
        elif kind == "any":
            self.comment(f"(!) {name} depends on {self.depends_on(dep)}: the same where uWSGI starts")
            pairs = [(var, dep["value"], default)]
        else:
            self.comment(f"(!) {name} depends on {self.depends_on(dep)}: the same where uWSGI starts")
            pairs = [(f"{var}={c}", v, default) for c, v in dep["cases"]]
        self.conditional(key, pairs, default)
        self.flag(f"{name} = {default!r} depends on {self.depends_on(dep)}: written with uWSGI's if-env, "
                  "decided where uWSGI starts")

    def conditional(self, key, pairs, default):
        """`key` by condition: one if-env/if-not-env pair, or a chain."""
        if len(pairs) == 1:
            condition, value, _ = pairs[0]
            self.opt("if-env", condition)
            self.opt(key, value, raw=value == "%(_)")
            self.opt("endif", "", raw=True)
            self.opt("if-not-env", condition)
            self.opt(key, default)
            self.opt("endif", "", raw=True)
        else:
            self.chain(key, [(c, v) for c, v, _ in pairs], default)

    def section(self, title):
        if self.lines and self.lines[-1] != "":
            self.out()
        self.comment(f"-- {title}")
