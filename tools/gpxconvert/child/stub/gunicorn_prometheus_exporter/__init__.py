"""A stand-in for gunicorn-prometheus-exporter, for gpx-convert's evaluating process.

Every name a config imports from it (hooks, worker classes, managers, and any
other) resolves to a stub marked with __gpx_stub__, so that the config can be
evaluated without the real package. Nothing here runs the exporter."""

import importlib.abc
import importlib.machinery
import sys
import types

PACKAGE = __name__
# Positional parameters of Gunicorn's server hooks, for hook-like stub names.
HOOK_PARAMS = {
    "on_starting": "server", "on_reload": "server", "when_ready": "server", "pre_fork": "server, worker",
    "post_fork": "server, worker", "post_worker_init": "worker", "worker_int": "worker", "worker_abort": "worker",
    "pre_exec": "server", "pre_request": "worker, req", "post_request": "worker, req, environ, resp",
    "child_exit": "server, worker", "worker_exit": "server, worker", "nworkers_changed": "server, new, old",
    "on_exit": "server", "ssl_context": "config, default_ssl_context",
}
KNOWN = {
    PACKAGE: ("PrometheusWorker", "PrometheusThreadWorker", "PrometheusEventletWorker", "PrometheusGeventWorker",
              "PrometheusTornadoWorker"),
    PACKAGE + ".plugin": ("PrometheusWorker", "PrometheusThreadWorker", "PrometheusEventletWorker",
                          "PrometheusGeventWorker", "PrometheusTornadoWorker"),
    PACKAGE + ".hooks": ("default_on_starting", "default_when_ready", "default_worker_int", "default_on_exit",
                         "default_post_fork", "redis_when_ready", "HookContext", "HookManager",
                         "EnvironmentManager", "MetricsServerManager", "WorkerManager", "ProcessManager"),
}


def _function(qualified):
    name = qualified.rpartition(".")[2]
    params = "*args, **kwargs"
    for hook, hook_params in HOOK_PARAMS.items():
        if name.endswith(hook):
            params = hook_params
    namespace = {}
    exec(f"def {name}({params}):\n    return None\n", namespace)
    func = namespace[name]
    func.__gpx_stub__ = qualified
    func.__module__ = qualified.rpartition(".")[0]
    return func


class _StubMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _function(cls.__gpx_stub__ + "." + name)


class _Stub(metaclass=_StubMeta):
    __gpx_stub__ = PACKAGE

    def __init__(self, *args, **kwargs):
        pass

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _function(type(self).__gpx_stub__ + "." + name)

    def __call__(self, *args, **kwargs):
        return None


def _class(qualified):
    module, _, name = qualified.rpartition(".")
    return _StubMeta(name, (_Stub,), {"__gpx_stub__": qualified, "__module__": module, "__qualname__": name})


def _make(module, name):
    qualified = module.__name__ + "." + name
    obj = _class(qualified) if name[:1].isupper() else _function(qualified)
    setattr(module, name, obj)
    return obj


def fill(module):
    module.__gpx_stub__ = module.__name__
    if not hasattr(module, "__path__"):
        module.__path__ = []  # a package: any submodule imports
    names = KNOWN.get(module.__name__, ())
    for name in names:
        _make(module, name)
    module.__all__ = list(names)

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _make(module, name)

    module.__getattr__ = __getattr__


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(PACKAGE + "."):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return types.ModuleType(spec.name)

    def exec_module(self, module):
        fill(module)


fill(sys.modules[__name__])
sys.meta_path.insert(0, _Finder())
