"""Evaluates a Gunicorn config file as Gunicorn 23 does, in the process that
gpx-convert starts for it (gpxconvert/runner.py):

    python3 evaluate_config.py LOCATION RESULT.json SPEC.json

The config runs once per scenario of the spec: the first in the environment and
on the CPUs the child was started with, each other one with variables set or
removed and the CPU count faked, so that the caller can tell which values
depended on them. One JSON report per scenario.

Standard library only, and nothing of gpxconvert: the config shares this
process, its sys.path and its os.environ."""

import contextlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import io
import json
import logging
import os
import sys
import traceback

# What the spec says (main() reads it): each setting's kind, each hook's arity.
KINDS: dict = {}
ARITY: dict = {}
location = ""  # the config: a path, file:PATH or python:MODULE

# os.environ, recording what the config does to it and which variables it
# reads before writing them (its inputs).
OPS = []
READS = []
WRITTEN = set()
QUIET = [0]  # > 0 while setdefault looks a variable up itself
_base = os.environ


class RecordingEnviron(type(_base)):
    def __getitem__(self, key):
        if not QUIET[0] and key not in WRITTEN and key not in READS:
            READS.append(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        OPS.append(["set", key, value])
        WRITTEN.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key):
        OPS.append(["del", key, None])
        WRITTEN.add(key)
        super().__delitem__(key)

    def setdefault(self, key, value=None):
        OPS.append(["setdefault", key, value])
        WRITTEN.add(key)
        QUIET[0] += 1
        try:
            if key in self:
                return self[key]
        finally:
            QUIET[0] -= 1
        super().__setitem__(key, value)
        return value


START_ENV: dict = {}  # os.environ as the process started, restored before each scenario
ROOT = logging.getLogger()

# The CPU count, as the config may read it: recorded, and faked per scenario.
CPU = {"calls": 0, "fake": None}
_real = {name: getattr(os, name) for name in ("cpu_count", "process_cpu_count", "sched_getaffinity")
         if hasattr(os, name)}


def _count():
    CPU["calls"] += 1
    return CPU["fake"]


def _cpu_count():
    return _count() or _real["cpu_count"]()


def _process_cpu_count():
    return _count() or _real["process_cpu_count"]()


def _sched_getaffinity(pid):
    n = _count()
    return set(range(n)) if n else _real["sched_getaffinity"](pid)


def install():
    """os.environ that records, and the CPU count that can be faked."""
    # the same mapping as os.environ (its _data), seen through a recorder
    os.environ = RecordingEnviron(_base._data, _base.encodekey, _base.decodekey, _base.encodevalue,  # noqa: B003
                                  _base.decodevalue)
    START_ENV.update(os.environ._data)
    os.cpu_count = _cpu_count  # multiprocessing.cpu_count() calls it too
    if "process_cpu_count" in _real:
        os.process_cpu_count = _process_cpu_count
    if "sched_getaffinity" in _real:
        os.sched_getaffinity = _sched_getaffinity


class Failed(Exception):
    """The config could not be evaluated: one line."""


CONFIG_FILE = None


def where(exc):
    """' (file, line N)' of the innermost frame in the config file."""
    line = None
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == CONFIG_FILE:
        line = exc.lineno
    for frame in traceback.extract_tb(exc.__traceback__):
        if CONFIG_FILE and os.path.abspath(frame.filename) == CONFIG_FILE:
            line = frame.lineno
    return " (%s, line %s)" % (os.path.basename(CONFIG_FILE), line) if line else ""


def fail(message):
    raise Failed(" ".join(str(message).split()))


# -- values ----------------------------------------------------------------------------------------
def qualname(obj):
    stub = getattr(obj, "__gpx_stub__", None)
    if isinstance(stub, str):
        return stub
    return "%s.%s" % (getattr(obj, "__module__", "?"), getattr(obj, "__qualname__", getattr(obj, "__name__", "?")))


def code_names(code, out):
    out.update(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            code_names(const, out)
    return out


def plain(value):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    raise TypeError("not a plain value")


def describe(value):
    try:
        return {"t": "value", "v": plain(value)}
    except TypeError:
        pass
    if inspect.isclass(value):
        return {"t": "class", "name": qualname(value), "stub": getattr(value, "__gpx_stub__", None),
                "mro": [qualname(c) for c in value.__mro__]}
    if callable(value):
        out = {"t": "callable", "name": qualname(value), "stub": getattr(value, "__gpx_stub__", None)}
        func = inspect.unwrap(value) if inspect.isfunction(value) or inspect.ismethod(value) else value
        code = getattr(getattr(func, "__func__", func), "__code__", None)
        if code is not None:
            out["file"] = code.co_filename
            out["line"] = code.co_firstlineno
            out["names"] = sorted(code_names(code, set()))
        return out
    return {"t": "repr", "v": repr(value)}


# -- Gunicorn's validators, for values from a config file -------------------------------------------
def v_string(val):
    if val is None:
        return None
    if not isinstance(val, str):
        raise TypeError("Not a string: %s" % (val,))
    return val.strip()


def v_pos_int(val):
    if not isinstance(val, int):
        val = int(val, 0)
    else:
        val = int(val)
    if val < 0:
        raise ValueError("Value must be positive: %s" % val)
    return val


def v_bool(val):
    if val is None:
        return None
    if isinstance(val, bool):
        return val
    if not isinstance(val, str):
        raise TypeError("Invalid type for casting: %s" % (val,))
    if val.lower().strip() == "true":
        return True
    if val.lower().strip() == "false":
        return False
    raise ValueError("Invalid boolean: %s" % val)


def v_list_string(val):
    if not val:
        return []
    if isinstance(val, str):
        val = [val]
    return [v_string(v) for v in val]


def v_string_list(val):
    val = v_string(val)
    return [v.strip() for v in val.split(",") if v] if val else []


def v_addr_list(val):
    import ipaddress
    for addr in v_string_list(val):
        if addr != "*":
            ipaddress.ip_address(addr)
    return v_string(val)


def v_dict(val):
    if not isinstance(val, dict):
        raise TypeError("Value is not a dictionary: %s " % (val,))
    return val


def v_user(val, database):
    if val is None:
        return None
    if isinstance(val, int):
        return int(val)
    if val.isdigit():
        return int(val)
    return val  # a name: kept, uWSGI resolves it where it runs


def v_class(val):
    if inspect.isfunction(val) or inspect.ismethod(val):
        val = val()
    if inspect.isclass(val):
        return val
    return v_string(val)


def v_callable(name, val):
    if isinstance(val, str):
        try:
            mod_name, obj_name = val.rsplit(".", 1)
        except ValueError:
            raise TypeError("Value '%s' is not import string. Format: module[.submodules...].object" % val) from None
        try:
            mod = __import__(mod_name, fromlist=[obj_name])
            val = getattr(mod, obj_name)
        except ImportError as e:
            raise TypeError(str(e)) from None
        except AttributeError:
            raise TypeError("Can not load '%s' from '%s'" % (obj_name, mod_name)) from None
    if not callable(val):
        raise TypeError("Value is not callable: %s" % (val,))
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    arity = sum(1 for p in inspect.signature(val).parameters.values() if p.kind in positional)
    want = ARITY[name]
    if want == -1:
        if arity not in (2, 3, 4):
            raise TypeError("Value must have an arity of: 4")
    elif arity != want:
        raise TypeError("Value must have an arity of: %s" % want)
    return val


def check(name, kind, val, warnings):
    if kind == "string":
        return v_string(val)
    if kind == "pos_int":
        return v_pos_int(val)
    if kind == "bool":
        return v_bool(val)
    if kind == "list_string":
        return v_list_string(val)
    if kind == "list_files":
        files = v_list_string(val)
        for path in files:
            if path is not None and not os.path.exists(path):
                warnings.append("%s: %s does not exist here (Gunicorn refuses a missing file where it starts)"
                                % (name, path))
        return files
    if kind == "string_list":
        v_string_list(val)
        return v_string(val)
    if kind == "addr_list":
        return v_addr_list(val)
    if kind == "dict":
        return v_dict(val)
    if kind in ("user", "group"):
        return v_user(val, kind)
    if kind == "class":
        return v_class(val)
    if kind == "hook":
        return v_callable(name, val)
    if kind == "chdir":
        val = v_string(val)
        path = os.path.abspath(os.path.normpath(os.path.join(os.getcwd(), val)))
        if not os.path.exists(path):
            warnings.append("chdir: %s does not exist here (Gunicorn refuses it where it starts)" % path)
        return path
    if kind == "reload_engine":
        if val not in ("auto", "poll", "inotify"):
            raise ValueError("Invalid reload_engine: %r" % (val,))
        return val
    if kind == "header_map":
        val = v_string(val)
        if val not in ("drop", "refuse", "dangerous"):
            raise ValueError("Invalid header map behaviour: %s" % val)
        return val
    return val


# -- load, once per scenario ------------------------------------------------------------------------
def load():
    """Runs the config as a fresh module."""
    global CONFIG_FILE
    try:
        if location.startswith("python:"):
            name = location[len("python:"):]
            for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[loaded]
            module = importlib.import_module(name)
            CONFIG_FILE = os.path.abspath(getattr(module, "__file__", "") or "")
        else:
            filename = location[len("file:"):] if location.startswith("file:") else location
            CONFIG_FILE = os.path.abspath(filename)
            loader = importlib.machinery.SourceFileLoader("__config__", filename)
            spec = importlib.util.spec_from_file_location("__config__", filename, loader=loader)
            module = importlib.util.module_from_spec(spec)
            sys.modules["__config__"] = module
            spec.loader.exec_module(module)
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            fail("the config called sys.exit(%r)%s" % (exc.code, where(exc)))
        fail("the config exited: %s%s" % (exc.code, where(exc)))
    except Failed:
        raise
    except BaseException as exc:
        if isinstance(exc, SyntaxError):
            fail("SyntaxError: %s%s" % (exc.msg, where(exc)))
        fail("%s: %s%s" % (type(exc).__name__, exc, where(exc)))
    return module


def constants():
    """The short strings in the config's code: the values a branch on a
    variable may compare it with."""
    out = []
    try:
        with open(CONFIG_FILE) as f:
            code = compile(f.read(), CONFIG_FILE, "exec")
    except (OSError, SyntaxError, ValueError):
        return out

    def walk(code):
        for const in code.co_consts:
            if inspect.iscode(const):
                walk(const)
            elif isinstance(const, str) and 0 < len(const) <= 100 and "\n" not in const and const not in out:
                out.append(const)

    walk(code)
    return out[:40]


def evaluate(scenario, first):
    OPS.clear()
    READS.clear()
    WRITTEN.clear()
    CPU["calls"] = 0
    CPU["fake"] = scenario.get("cpus")
    env = os.environ._data
    env.clear()
    env.update(START_ENV)
    for key, value in (scenario.get("set") or {}).items():
        env[os.environ.encodekey(key)] = os.environ.encodevalue(value)
    for key in scenario.get("unset") or []:
        env.pop(os.environ.encodekey(key), None)
    before = dict(os.environ._data)
    root_state = (ROOT.level, len(ROOT.handlers))
    module = load()

    settings = {}
    warnings = []
    ignored = {}
    for name, value in list(vars(module).items()):
        if name not in KINDS:
            # a plain value under a lower-case name, or under a setting's name in
            # another case: Gunicorn ignores it, the ini says so
            if (not name.startswith("_") and (name.islower() or name.lower() in KINDS)
                    and not inspect.ismodule(value) and not callable(value)):
                try:
                    ignored[name] = plain(value)
                except TypeError:
                    pass
            continue
        try:
            checked = check(name, KINDS[name], value, warnings)
        except Exception as exc:
            shown = repr(value)[:200]
            if callable(value) and hasattr(value, "__qualname__"):
                shown = value.__qualname__ + ("()" if not inspect.isclass(value) else "")
            fail("invalid value for %s: %s: %s" % (name, shown, exc))
        settings[name] = describe(checked)

    after = dict(os.environ._data)
    decode = os.environ.decodekey
    changed = {decode(k): os.environ.decodevalue(v) for k, v in after.items() if before.get(k) != v}
    removed = [decode(k) for k in before if k not in after]
    logging_state = None
    if first and (ROOT.level, len(ROOT.handlers)) != root_state:
        logging_state = {"level": logging.getLevelName(ROOT.level), "handlers": len(ROOT.handlers)}
    return {"config": CONFIG_FILE, "settings": settings, "env_ops": list(OPS), "env_changed": changed,
            "env_removed": removed, "ignored": ignored, "logging": logging_state, "warnings": warnings,
            "reads": list(READS), "cpu_calls": CPU["calls"], "constants": constants() if first else []}


def main(argv):
    global location
    location, result_path, spec_path = argv[:3]
    with open(spec_path) as f:
        spec = json.load(f)
    KINDS.update(spec["kinds"])
    ARITY.update(spec["arity"])
    # The stand-in package beside this script comes first (in place of this
    # script's own directory); then the directory Gunicorn runs in, so that a
    # config can import the project's modules.
    sys.path[0] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stub")
    sys.path.insert(1, os.getcwd())
    install()
    results = []
    for i, scenario in enumerate(spec.get("scenarios") or [{}]):
        try:
            if i == 0:
                results.append(evaluate(scenario, True))
            else:
                # the config's own output once is enough
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    results.append(evaluate(scenario, False))
        except Failed as exc:
            results.append({"error": str(exc)})
            if i == 0:
                break
    with open(result_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1:])
