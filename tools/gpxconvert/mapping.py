"""Each Gunicorn setting and exporter variable to its uWSGI and gpx options,
section by section of the ini."""

from __future__ import annotations

import os

from gpxconvert.errors import ConvertError
from gpxconvert.exporter import EXPORTER_HOOKS, EXPORTER_MANAGERS, GPX_VARIABLES, GUNICORN_VARIABLES
from gpxconvert.ini import IniWriter
from gpxconvert.settings import SETTINGS
from gpxconvert.uwsgi_values import (
    escape,
    parse_address,
    representable,
    translate_access_log_format,
    uwsgi_address,
    worker_model,
)

# Where a user's own code in each Gunicorn hook goes under uWSGI.
HOOK_EQUIVALENTS = {
    "on_starting": "hook-master-start or hook-pre-app",
    "on_reload": "hook-as-user-atexit (before a reload; uWSGI re-executes the master, so hook-master-start "
                 "runs again after it)",
    "when_ready": "hook-accepting1-once",
    "pre_fork": "hook-post-app (once, in the master, before the workers fork; uWSGI has no hook before each fork)",
    "post_fork": "hook-post-fork or uwsgidecorators.postfork",
    "post_worker_init": "uwsgidecorators.postfork, or the end of the app module with lazy-apps",
    "worker_int": "uwsgi.atexit or Python's atexit in the worker",
    "worker_abort": "nothing in Python: harakiri kills the worker (harakiri-verbose logs why) and gpx counts "
                    "the restart by reason",
    "pre_exec": "hook-as-user-atexit (uWSGI re-executes itself on every reload)",
    "pre_request": "a WSGI middleware around the app (uWSGI has no per-request Python hook)",
    "post_request": "a WSGI middleware around the app (uWSGI has no per-request Python hook)",
    "child_exit": "nothing in Python: uWSGI logs each worker's exit and gpx counts worker restarts by reason",
    "worker_exit": "uwsgi.atexit or Python's atexit in the worker",
    "nworkers_changed": "nothing: processes is fixed (uWSGI's cheaper subsystem has no such hook)",
    "on_exit": "hook-as-user-atexit (runs in the master)",
    "ssl_context": "https-socket's certificate, key, ciphers and CA fields (no Python SSLContext hook)",
}

# Why a setting has no uWSGI equivalent, for settings without a handler below.
WHY_NOT = {
    "config": "the path of the config file itself",
    "limit_request_line": "uWSGI bounds the whole request head with buffer-size (4096 bytes unless set), not "
                          "its parts",
    "limit_request_fields": "uWSGI bounds the whole request head with buffer-size (4096 bytes unless set), not "
                            "its parts",
    "limit_request_field_size": "uWSGI bounds the whole request head with buffer-size (4096 bytes unless set), "
                                "not its parts",
    "spew": "Gunicorn traces every executed line; uWSGI has no such switch (trace in the app)",
    "check_config": "Gunicorn only checks the config and exits; uWSGI has no such mode",
    "print_config": "Gunicorn only prints the config and exits; uWSGI's show-config prints its options",
    "worker_tmp_dir": "uWSGI's master watches its workers without heartbeat files",
    "tmp_upload_dir": "Gunicorn does not use it either; uWSGI buffers bodies with post-buffering",
    "secure_scheme_headers": "uWSGI does not derive wsgi.url_scheme from proxy headers; use a proxy-fix "
                             "middleware in the app",
    "forwarded_allow_ips": "uWSGI does not derive wsgi.url_scheme from proxy headers; use a proxy-fix "
                           "middleware in the app",
    "disable_redirect_access_to_syslog": "it only concerns Gunicorn's syslog handler",
    "logger_class": "it configures Gunicorn's own Python loggers; uWSGI logs through logto and logger options",
    "logconfig": "it configures Gunicorn's own Python loggers; uWSGI logs through logto and logger options",
    "logconfig_dict": "it configures Gunicorn's own Python loggers; uWSGI logs through logto and logger options",
    "logconfig_json": "it configures Gunicorn's own Python loggers; uWSGI logs through logto and logger options",
    "syslog": "add `plugin = syslog` and `logger = syslog:PREFIX,FACILITY` (rsyslog for a remote address)",
    "syslog_addr": "add `plugin = syslog` and `logger = syslog:PREFIX,FACILITY` (rsyslog for a remote address)",
    "syslog_prefix": "add `plugin = syslog` and `logger = syslog:PREFIX,FACILITY` (rsyslog for a remote address)",
    "syslog_facility": "add `plugin = syslog` and `logger = syslog:PREFIX,FACILITY` (rsyslog for a remote "
                       "address)",
    "enable_stdio_inheritance": "uWSGI's workers inherit the master's stdio anyway",
    "statsd_host": "gpx serves Prometheus metrics instead; uWSGI's statsd pusher (stats-push) sends other ones",
    "dogstatsd_tags": "gpx serves Prometheus metrics instead; uWSGI's statsd pusher (stats-push) sends other ones",
    "statsd_prefix": "gpx serves Prometheus metrics instead; uWSGI's statsd pusher (stats-push) sends other ones",
    "default_proc_name": "an internal name of Gunicorn's",
    "proxy_allow_ips": "uWSGI accepts the PROXY header from any peer",
    "ssl_version": "Gunicorn ignores it too (deprecated)",
    "suppress_ragged_eofs": "uWSGI's TLS has no such switch",
    "do_handshake_on_connect": "uWSGI's TLS has no such switch",
    "raw_paste_global_conf": "uWSGI's paste loader takes no global_conf",
    "permit_obsolete_folding": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
    "strip_header_spaces": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
    "permit_unconventional_http_method": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
    "permit_unconventional_http_version": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
    "casefold_http_method": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
    "forwarder_headers": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
    "header_map": "a rule of Gunicorn's HTTP parser; uWSGI's parser has its own",
}


class Converter(IniWriter):
    """A config's report as the uWSGI ini: render() writes it."""

    # sections
    def render(self) -> str:
        # the body first: it decides which plugins the header loads
        self.app()
        self.sockets()
        self.workers()
        self.development()
        self.mechanics()
        self.logging()
        self.metrics()
        self.hooks()
        self.rest()
        body, self.lines = self.lines, []
        self.header()
        self.lines += body
        return "\n".join(self.lines) + "\n"

    def header(self):
        self.out("[uwsgi]")
        self.comment(f"uWSGI with gpx for {self.config_name}, written by tools/gpx-convert from its Gunicorn 23")
        self.comment("settings and gunicorn-prometheus-exporter variables. `; NAME = VALUE -> ...` says where each")
        self.comment("setting went, `; not mapped: ...` what uWSGI has no equivalent for, and why; `; (!)` marks a")
        self.comment("value that depended on the machine or the environment where gpx-convert ran.")
        self.comment("As a service, as Gunicorn runs: a misspelt option stops start-up, SIGTERM stops uWSGI (it")
        self.comment("reloads by default; gpx keeps the counters), and an app that cannot load stops it too.")
        self.opt("strict", "true")
        self.opt("die-on-term", "true")
        self.opt("need-app", "true")
        self.comment("Python and the loop engines are plugins of Debian's uWSGI, built into PyPI's")
        engines = [p for p in self.plugins if p in ("greenlet_python3", "tornado_python3")]
        for plugin in self.plugins:
            if plugin in engines:
                continue
            self.opt("if-not-plugin", {"python3": "python", "gevent_python3": "gevent"}.get(plugin, plugin))
            self.opt("plugin", plugin)
            self.opt("endif", "", raw=True)
        if engines:
            self.comment("(Debian's only: PyPI's uWSGI has no tornado loop engine and refuses `tornado` below)")
            self.opt("if-opt", "plugin=python3")
            for plugin in engines:
                self.opt("plugin", plugin)
            self.opt("endif", "", raw=True)
        if self.args.plugin_dir:
            self.opt("plugins-dir", os.path.abspath(self.args.plugin_dir))
        self.opt("plugin", "gpx")
        self.out()
        if self.unanalysed:
            self.comment(f"(!) the config reads {', '.join('$' + v for v in self.unanalysed)}: gpx-convert could not "
                         "tell what depends on them; values here are as they were where it ran")
            self.flag(f"the config reads {', '.join('$' + v for v in self.unanalysed)}: values that depend on them "
                      "are frozen as they were here")
        for warning in self.report.get("warnings", []):
            self.comment("warning: " + warning)
        cmd_args = self.environ.get("GUNICORN_CMD_ARGS")
        if cmd_args:
            self.comment(f"not mapped: GUNICORN_CMD_ARGS = {cmd_args!r} (in the environment now): Gunicorn would "
                         "apply these options over the config; convert them by hand")

    def app(self):
        self.section("the app")
        wsgi_app = self.value("wsgi_app") if self.is_set("wsgi_app") else None
        if self.args.app or self.args.wsgi_file:
            if self.is_set("wsgi_app"):
                self.mapped("wsgi_app", "replaced by the app given to gpx-convert, as Gunicorn's command line "
                                        "replaces it")
            if self.args.app:
                self.module(self.args.app, "--app")
            else:
                self.opt("wsgi-file", self.args.wsgi_file)
        elif wsgi_app:
            if "(" in wsgi_app:
                self.not_mapped("wsgi_app", "Gunicorn calls the factory; uWSGI loads a callable: name a "
                                            "module-level app instead (module = MODULE:CALLABLE)")
            else:
                self.mapped("wsgi_app", "module")
                self.module(wsgi_app, "wsgi_app")
        elif self.is_set("paste") and self.value("paste"):
            self.mapped("paste", "paste (PasteDeploy's loader in uWSGI's python plugin)")
            self.opt("paste", "config:" + os.path.abspath(self.value("paste")))
        else:
            self.comment("no app: Gunicorn takes it from its command line (gunicorn -c CONFIG MODULE:CALLABLE);")
            self.comment("add `module = MODULE:CALLABLE` or `wsgi-file = PATH`, or convert with --app/--wsgi-file")
        if self.is_set("paste") and "paste" not in self.done:
            self.not_mapped("paste", "the app is given otherwise")

    def module(self, spec, source):
        module, _, callable_ = spec.partition(":")
        if "(" in callable_:
            self.comment(f"not mapped: {source} = {spec!r}: Gunicorn calls the factory; uWSGI loads a callable: "
                         "name a module-level app instead")
            return
        self.opt("module", f"{module}:{callable_}" if callable_ else module)

    def sockets(self):
        self.section("sockets")
        binds = self.value("bind")
        certfile, keyfile = self.value("certfile"), self.value("keyfile")
        tls = bool(certfile and keyfile)
        option = "https-socket" if tls else "http-socket"
        suffix = ""
        if tls:
            suffix = f",{certfile},{keyfile}"
            ciphers, ca = self.value("ciphers"), self.value("ca_certs")
            cert_reqs = self.value("cert_reqs")
            if ca and cert_reqs:
                suffix += f",{ciphers or 'HIGH'},{'!' if cert_reqs == 2 else ''}{ca}"
            elif ciphers:
                suffix += f",{ciphers}"
        addresses = [(b, parse_address(b)) for b in binds]
        usable = [(b, a) for b, a in addresses if not isinstance(a, int)]
        how = f"{option} (set GPX_APP_BIND{', GPX_APP_BIND_2, ...' if len(usable) > 1 else ''} to move "
        how += "them)" if len(usable) > 1 else "it)"
        self.mapped("bind", how)
        for bind, address in addresses:
            if isinstance(address, int):
                self.comment(f"not mapped: bind {bind!r}: a socket Gunicorn inherits as a file descriptor; uWSGI "
                             "takes inherited sockets from systemd (or `http-socket = =N` for its own shared ones)")
        bind_dep = self.runtime_form("bind") if len(usable) == 1 else None
        for i, (_bind, address) in enumerate(usable):
            var = "GPX_APP_BIND" if i == 0 else f"GPX_APP_BIND_{i + 1}"
            if bind_dep is not None:
                self.bind_chain(option, suffix, bind_dep, address)
                continue
            self.opt("if-env", var)
            self.opt(option, "%(_)" + escape(suffix), raw=True)
            self.opt("endif", "", raw=True)
            self.opt("if-not-env", var)
            self.opt(option, uwsgi_address(address) + suffix)
            self.opt("endif", "", raw=True)
        if not usable:
            self.comment("no socket: uWSGI needs one (http-socket = HOST:PORT)")
        for name in ("certfile", "keyfile", "ciphers", "ca_certs", "cert_reqs"):
            if self.is_set(name):
                if tls and (name != "cert_reqs" or self.value("ca_certs")):
                    self.mapped(name, "a field of https-socket")
                elif tls and name == "cert_reqs":
                    self.not_mapped(name, "without ca_certs there is no CA to check client certificates with")
                else:
                    self.not_mapped(name, "TLS needs both certfile and keyfile (then https-socket takes them)")
        if self.is_set("backlog"):
            self.mapped("backlog", "listen (uWSGI refuses one above net.core.somaxconn)")
            self.setting_opt("backlog", "listen", self.value("backlog"))
        else:
            self.comment("backlog = 2048 (Gunicorn's default) is not carried: uWSGI's listen queue is 100 unless "
                         "`listen` is set (at most net.core.somaxconn)")
        if self.is_set("reuse_port"):
            if self.value("reuse_port"):
                self.mapped("reuse_port", "reuse-port")
                self.opt("reuse-port", "true")
            else:
                self.mapped("reuse_port", "uWSGI's default (no SO_REUSEPORT)")
        if self.is_set("proxy_protocol"):
            if self.value("proxy_protocol"):
                self.mapped("proxy_protocol", "enable-proxy-protocol")
                self.opt("enable-proxy-protocol", "true")
            else:
                self.mapped("proxy_protocol", "uWSGI's default (no PROXY protocol)")
        if self.is_set("umask"):
            unix = [a for _, a in usable if isinstance(a, str)]
            if unix:
                mode = 0o777 & ~self.value("umask")
                self.mapped("umask", f"chmod-socket (Gunicorn applies its umask to its Unix sockets: mode {mode:03o})")
                self.opt("chmod-socket", f"{mode:03o}")
            else:
                self.not_mapped("umask", "Gunicorn applies it to its Unix sockets and worker temp files only, and "
                                         "there is no Unix socket (uWSGI's umask would apply to every file)")

    def bind_chain(self, option, suffix, dep, address):
        """The app's socket when bind depended on a variable: GPX_APP_BIND
        first, then the variable as the config read it, then the address
        here."""
        self.dep_done.add("bind")
        var = dep["var"]

        def addr(value):
            text = value[0] if isinstance(value, list) else value
            try:
                return uwsgi_address(parse_address(text))
            except ConvertError:
                return text

        what = "Gunicorn's default bind" if dep.get("gunicorn") else "bind"
        self.comment(f"(!) {what} depends on {self.depends_on(dep)}: the same where uWSGI starts (GPX_APP_BIND "
                     "still moves it)")
        self.flag(f"{what} = {addr(self.value('bind'))!r} depends on {self.depends_on(dep)}: written with "
                  "uWSGI's if-env, decided where uWSGI starts")
        kind = dep["kind"]
        if kind == "direct" and dep.get("required"):
            self.opt("if-env", "GPX_APP_BIND")
            self.opt(option, "%(_)" + escape(suffix), raw=True)
            self.opt("endif", "", raw=True)
            self.opt("if-not-env", "GPX_APP_BIND")
            self.opt(option, f"$({var})" + escape(suffix), raw=True)
            self.opt("endif", "", raw=True)
            return
        cases = [("GPX_APP_BIND", "%(_)")]
        if kind == "direct":
            cases.append((var, "%(_)"))
        elif kind == "template":
            template = dep["template"]
            for prefix in ("tcp://", "http://"):
                template = template.removeprefix(prefix)
            cases.append((var, template))
        elif kind == "any":
            cases.append((var, escape(addr(dep["value"]))))
        else:
            cases += [(f"{var}={c}", escape(addr(v))) for c, v in dep["cases"]]
        default = dep.get("default")
        self.chain(option, cases, addr(default) if default is not None else uwsgi_address(address),
                   suffix=escape(suffix))

    def workers(self):
        self.section("workers")
        threads = self.value("threads")
        mode, shown = worker_model(self.explicit.get("worker_class") or {"t": "value", "v": "sync"}, threads)
        self.mode = mode
        workers = self.value("workers")
        connections = self.value("worker_connections")
        what = {
            "sync": "processes only: one request at a time per process",
            "gthread": "processes with threads" + (" (Gunicorn runs its sync worker as gthread when threads > 1)"
                                                  if "hread" not in shown else ""),
            "gevent": f"gevent = worker_connections ({connections} greenlets per process, gevent_python3 plugin)",
            "eventlet": f"gevent = worker_connections ({connections} per process): uWSGI has no eventlet loop "
                        "engine; gevent runs the same model (monkey-patched greenlets, one per connection)",
            "tornado": f"tornado = worker_connections ({connections} per process, tornado_python3 plugin) with "
                       "greenlet = true (uWSGI's tornado loop needs a suspend engine)",
            "asgi": "none: an ASGI worker, and uWSGI serves WSGI apps; written as processes",
            "unknown": "processes (a worker class gpx-convert does not know: check its concurrency model)",
        }[mode]
        if mode in ("asgi", "unknown"):
            self.not_mapped("worker_class", what)
        else:
            self.mapped("worker_class", what)
        if workers < 1:
            self.not_mapped("workers", "Gunicorn would run no worker; uWSGI needs at least one (processes = 1)")
            workers = 1
        else:
            self.mapped("workers", "processes")
        self.setting_opt("workers", "processes", workers)
        self.workers_count = workers

        self.comment("Gunicorn runs the app's own threads (a metrics or error-reporting thread, say); uWSGI does "
                     "with enable-threads")
        self.opt("enable-threads", "true")
        if mode == "gthread":
            how = "threads" + (" (one thread, as Gunicorn's thread worker runs with threads = 1)"
                               if threads == 1 else "")
            self.mapped("threads", how)
            self.setting_opt("threads", "threads", threads)
        elif mode in ("gevent", "eventlet"):
            self.plugins.append("gevent_python3")
            self.mapped("worker_connections", "gevent")
            self.setting_opt("worker_connections", "gevent", connections)
            self.comment("Gunicorn's gevent and eventlet workers monkey-patch before loading the app")
            self.opt("gevent-early-monkey-patch", "true")
        elif mode == "tornado":
            self.plugins += ["greenlet_python3", "tornado_python3"]
            self.mapped("worker_connections", "tornado")
            self.setting_opt("worker_connections", "tornado", connections)
            self.opt("greenlet", "true")
        if self.is_set("threads") and "threads" not in self.done:
            if mode == "sync":
                self.not_mapped("threads", f"{shown} is a sync worker class: Gunicorn ignores threads for it "
                                           "(only the string 'sync' turns into gthread)")
            else:
                self.not_mapped("threads", "an async worker runs greenlets, not threads: Gunicorn ignores it")
        if self.is_set("worker_connections") and "worker_connections" not in self.done:
            self.not_mapped("worker_connections", "only Gunicorn's async workers (gevent, eventlet, tornado) take "
                                                  "their concurrency from it (the thread worker caps open "
                                                  "connections with it); uWSGI's processes and threads take one "
                                                  "connection each")

        max_requests = self.value("max_requests")
        jitter = self.value("max_requests_jitter")
        if max_requests > 0:
            self.mapped("max_requests", "max-requests (a worker is recycled only once it has lived "
                                        "min-worker-lifetime: 60 s by default on uWSGI 2.0.21, 10 s on 2.0.31)")
            self.setting_opt("max_requests", "max-requests", max_requests)
        elif self.is_set("max_requests"):
            self.mapped("max_requests", "uWSGI's default (0: workers are not recycled by count)")
        if jitter > 0 and max_requests > 0:
            if workers > 1 or self.runtime_form("workers") is not None:
                self.max_requests_delta(jitter, max_requests, workers)
            else:
                self.not_mapped("max_requests_jitter", "with one worker uWSGI has nothing to spread; it has no "
                                                       "random jitter")
        elif self.is_set("max_requests_jitter"):
            if jitter > 0:
                self.not_mapped("max_requests_jitter", "it only applies with max_requests > 0")
            else:
                self.mapped("max_requests_jitter", "uWSGI's default (no spread)")

        timeout = self.value("timeout")
        if timeout > 0:
            note = "" if mode == "sync" else (": Gunicorn's thread and async workers only use it as a heartbeat, "
                                              "harakiri limits each request's time")
            self.mapped("timeout", "harakiri" + note)
            self.setting_opt("timeout", "harakiri", timeout)
        else:
            self.mapped("timeout", "no harakiri (0 disables it in both)")
        self.mapped("graceful_timeout", "worker-reload-mercy")
        self.setting_opt("graceful_timeout", "worker-reload-mercy", self.value("graceful_timeout"))

        keepalive = self.value("keepalive")
        if keepalive > 0 and (mode != "sync" or self.is_set("keepalive")):
            sync = " (nor does Gunicorn's sync worker)" if mode == "sync" else ""
            self.not_mapped("keepalive", "uWSGI's http-socket answers one request per connection and closes it"
                                         f"{sync}; it has no keep-alive to set. For keep-alive, put uWSGI's HTTP "
                                         f"router in front (`http = ...` with `http-keepalive = {keepalive}`; "
                                         "Debian: `plugin = http`) or a proxy")
        elif keepalive > 0:
            self.comment(f"keepalive = {keepalive} (Gunicorn's default) is not carried: Gunicorn's sync worker does "
                         "not keep connections alive, nor does uWSGI's http-socket")
        else:
            self.mapped("keepalive", "nothing: 0 disables keep-alive, and uWSGI's http-socket has none")

        if self.value("preload_app"):
            self.mapped("preload_app", "uWSGI's default: the app loads in the master before the workers fork")
        else:
            self.mapped("preload_app", "lazy-apps: each worker loads the app after the fork, as Gunicorn does "
                                       "without preload")
            self.opt("lazy-apps", "true")

    def max_requests_delta(self, jitter, max_requests, workers):
        """max_requests_jitter as max-requests-delta = jitter // (workers - 1):
        uWSGI recycles worker N after max-requests + (N - 1) x delta requests,
        a fixed spread over the range Gunicorn draws from at random."""
        delta = jitter // (workers - 1) if workers > 1 else 0
        dep = self.runtime_form("workers")
        if delta == 0 and dep is None:
            self.not_mapped("max_requests_jitter", f"uWSGI spreads the workers' limits by a whole number of requests "
                                                   f"per worker, and {jitter} // ({workers} - 1) is 0: no spread")
            return
        self.mapped("max_requests_jitter", f"max-requests-delta = {jitter} // (workers - 1): uWSGI recycles "
                                           f"worker N after max-requests + (N - 1) x delta requests, a fixed "
                                           f"spread where Gunicorn draws 0 to {jitter} more at random for each new "
                                           "worker")
        form = str(delta)
        if dep is None:
            self.comment(f"here {delta}: the {workers} workers recycle after {max_requests} to "
                         f"{max_requests + (workers - 1) * delta} requests")
        elif dep["kind"] == "cpu" and dep["b"] == 1:
            form = f"%({jitter} / %k" + (f" / {dep['a']}" if dep["a"] != 1 else "") + ")"
            self.comment(f"(!) computed from the CPU count where uWSGI starts, as processes is ({delta} here)")
        elif dep["kind"] in ("cases", "any"):
            values = [(f"{dep['var']}={c}", v) for c, v in dep["cases"]] if dep["kind"] == "cases" else [
                (dep["var"], dep["value"])]
            self.comment(f"(!) follows processes, which depends on {self.depends_on(dep)}")
            name = self.placeholder_cases("max_requests_delta", [
                (condition, jitter // (value - 1) if value > 1 else 0) for condition, value in values], delta)
            form = f"%({name})"
        else:
            self.comment(f"(!) follows processes, which depends on {self.depends_on(dep)}: frozen at {delta}, "
                         "its value for the workers here")
            self.flag(f"max_requests_jitter = {jitter} gives max-requests-delta = {delta} for {workers} workers, "
                      f"and the workers depend on {self.depends_on(dep)}: frozen in the ini at this value")
        self.comment("uWSGI 2.0.22 and later: Debian 12's 2.0.21 has no max-requests-delta (`strict` refuses it),")
        self.comment("and the block leaves it out there")
        self.opt("set-placeholder", "running_uwsgi=%V", raw=True)
        self.opt("if-not-opt", "running_uwsgi=2.0.21-debian")
        self.opt("max-requests-delta", form, raw=True)
        self.opt("endif", "", raw=True)

    def development(self):
        reload_ = self.value("reload")
        names = ("reload", "reload_engine", "reload_extra_files")
        if not any(self.is_set(n) for n in names):
            return
        self.section("development")
        if reload_:
            self.mapped("reload", "py-autoreload (checks the app's modules every second)")
            self.opt("py-autoreload", 1)
        elif self.is_set("reload"):
            self.mapped("reload", "uWSGI's default (no reloading on code changes)")
        if self.is_set("reload_engine"):
            if self.value("reload_engine") == "auto":
                self.mapped("reload_engine", "py-autoreload's polling")
            else:
                self.not_mapped("reload_engine", "uWSGI polls module times (py-autoreload), it has no choice of "
                                                 "engine")
        if self.is_set("reload_extra_files"):
            files = self.value("reload_extra_files")
            if not files:
                self.mapped("reload_extra_files", "nothing (empty)")
            elif reload_:
                self.mapped("reload_extra_files", "touch-reload, one per file (uWSGI reloads when one changes)")
                for path in files:
                    why = representable(path)
                    if why:
                        self.comment(f"not mapped: reload_extra_files entry {path!r}: {why}")
                    else:
                        self.opt("touch-reload", path)
            else:
                self.not_mapped("reload_extra_files", "Gunicorn watches them only with reload = True")

    def mechanics(self):
        names = ("chdir", "daemon", "raw_env", "pidfile", "user", "group", "initgroups", "proc_name", "pythonpath",
                 "sendfile")
        if not any(self.is_set(n) for n in names):
            return
        self.section("server")
        if self.is_set("chdir"):
            self.mapped("chdir", "chdir (before the app loads)")
            self.opt("chdir", self.value("chdir"))
        if self.is_set("raw_env"):
            entries = self.value("raw_env")
            self.mapped("raw_env", "env, one per variable (Gunicorn sets them over the environment; so does env)")
            for entry in entries:
                key, eq, val = entry.partition("=")
                why = representable(entry) if eq else "not KEY=VALUE (Gunicorn refuses it)"
                if why:
                    self.comment(f"not mapped: raw_env entry {entry!r}: {why}")
                else:
                    self.opt("env", f"{key}={val}")
        if self.is_set("pidfile"):
            if self.value("pidfile"):
                self.mapped("pidfile", "pidfile")
                self.opt("pidfile", self.value("pidfile"))
            else:
                self.mapped("pidfile", "no pidfile")
        for name, option in (("user", "uid"), ("group", "gid")):
            if self.is_set(name):
                self.mapped(name, f"{option} (uWSGI drops to it after binding its sockets)")
                self.opt(option, self.value(name))
        if self.is_set("initgroups"):
            if self.value("initgroups"):
                self.mapped("initgroups", "uWSGI's default: it calls initgroups() when it drops to uid")
            else:
                self.mapped("initgroups", "no-initgroups")
                self.opt("no-initgroups", "true")
        if self.is_set("proc_name"):
            if self.value("proc_name"):
                self.mapped("proc_name", "procname (every uWSGI process takes the name)")
                self.opt("procname", self.value("proc_name"))
            else:
                self.mapped("proc_name", "uWSGI's default process names")
        if self.is_set("pythonpath"):
            paths = [p.strip() for p in (self.value("pythonpath") or "").split(",") if p.strip()]
            self.mapped("pythonpath", "pythonpath, one per directory")
            for path in paths:
                self.opt("pythonpath", path)
        if self.is_set("sendfile"):
            if self.value("sendfile") is False:
                self.not_mapped("sendfile", "uWSGI's wsgi.file_wrapper always uses sendfile(); "
                                            "wsgi-disable-file-wrapper = true turns the wrapper off altogether")
            else:
                self.mapped("sendfile", "uWSGI's default (wsgi.file_wrapper uses sendfile())")
        # daemon: with the logs, since uWSGI's daemonize takes the log file

    def logging(self):
        self.section("logs")
        errorlog = self.value("errorlog")
        accesslog = self.value("accesslog")
        daemon = self.value("daemon")
        to_file = errorlog not in (None, "", "-")
        if daemon:
            target = errorlog if to_file else "/dev/null"
            self.mapped("daemon", f"daemonize (uWSGI's takes the log file: {target})")
            self.opt("daemonize", target)
        elif self.is_set("daemon"):
            self.mapped("daemon", "uWSGI's default (stays in the foreground)")
        if to_file:
            if daemon:
                self.mapped("errorlog", "daemonize's log file")
            else:
                self.mapped("errorlog", "logto (uWSGI's log, with the workers' stdout and stderr)")
                self.opt("logto", errorlog)
        elif self.is_set("errorlog"):
            self.mapped("errorlog", "uWSGI's default: it logs to stderr")

        if accesslog is None:
            self.mapped("accesslog", "disable-logging: Gunicorn logs no requests, uWSGI logs each one by default")
            self.opt("disable-logging", "true")
            if self.is_set("access_log_format"):
                self.not_mapped("access_log_format", "there is no access log")
        else:
            if accesslog == "-":
                where = "uWSGI logs each request by default, in its own log (stderr" + (
                    ", or logto" if to_file else "") + "), not on stdout"
                self.mapped("accesslog", where)
            elif to_file and os.path.abspath(accesslog) == os.path.abspath(errorlog):
                self.mapped("accesslog", "uWSGI logs each request by default, in its log (logto)")
            else:
                self.mapped("accesslog", "req-logger (uWSGI logs each request by default; this sends the request "
                                         "lines to the file, with the logfile plugin)")
                self.plugins.append("logfile")
                self.opt("req-logger", "file:" + accesslog)
            fmt = self.value("access_log_format")
            translated, missing = translate_access_log_format(fmt)
            if translated is None:
                self.not_mapped("access_log_format", "uWSGI's log-format has no equivalent of "
                                + ", ".join(f"%({m})s" for m in missing) + ": uWSGI's own request lines are kept")
            else:
                self.mapped("access_log_format", "log-format")
                self.opt("log-format", translated)

        loglevel = (self.value("loglevel") or "info").lower()
        if loglevel == "info":
            if self.is_set("loglevel"):
                self.mapped("loglevel", "uWSGI's default (it logs its own lines at one level)")
        elif loglevel == "debug":
            self.mapped("loglevel", "gpx-debug = true (every gpx setting and where it came from, a line per "
                                    "scrape and per Redis publish); uWSGI itself has no log levels")
            self.opt("if-not-env", "GPX_DEBUG")
            self.opt("gpx-debug", "true")
            self.opt("endif", "", raw=True)
        else:
            self.not_mapped("loglevel", "uWSGI has no log levels: its own lines are always written")
        if self.is_set("capture_output"):
            if self.value("capture_output"):
                self.mapped("capture_output", "uWSGI's default: the workers' stdout and stderr go to its log")
            else:
                self.not_mapped("capture_output", "uWSGI always sends the workers' stdout and stderr to its log")
        state = self.report.get("logging")
        if state:
            self.comment(f"not mapped: the config's own logging setup (root logger level {state['level']}, "
                         f"{state['handlers']} handler(s)): it set how the exporter's hooks logged in Gunicorn's "
                         "master; gpx logs its own lines (gpx-debug = true for more)")

    def metrics(self):
        self.section("metrics: the exporter's variables as gpx options")
        changes = self.environment_changes()
        exporter = [c for c in changes if c[0] in GPX_VARIABLES]
        if exporter:
            self.comment("Each block does what the config's os.environ.setdefault(VAR, value) did: a VAR set when")
            self.comment("uWSGI starts wins, then this value, then gpx's default (docs/options.md).")
        else:
            self.comment("The config sets none of them: gpx reads them from the environment at start, as the exporter")
            self.comment("did, and has the exporter's defaults (docs/options.md).")
        touched = {c[0] for c in changes}
        # variables the config sets only in some environments
        for key in self.env_deps:
            if key not in touched:
                (exporter if key in GPX_VARIABLES else changes).append((key, "conditional", None))
        for key, kind, value in exporter:
            option = GPX_VARIABLES[key]
            if key in self.env_deps and self.dependent_variable(key, option, self.env_deps[key]):
                continue
            if kind == "conditional":
                continue  # set only in environments other than this one; frozen_variable said so
            shown = "(hidden)" if "PASSWORD" in key and value else repr(value)
            if kind == "del":
                self.comment(f"not mapped: del os.environ[{key!r}]: the exporter then used its default; remove "
                             f"{key} from uWSGI's environment too")
                continue
            why = representable(value)
            if why:
                self.comment(f"not mapped: {key} = {shown}: {why}")
                continue
            now = self.environ.get(key)
            if kind in ("setdefault", "respected"):
                self.comment(f"{self.origin(key, kind, shown)} -> {option}")
                if now is not None:
                    now_shown = "(set)" if "PASSWORD" in key else repr(now)
                    self.comment(f"({key} = {now_shown} in the environment now: set when uWSGI starts, it wins "
                                 "over this block, as over setdefault)")
                self.opt("if-not-env", key)
                self.opt(option, value)
                self.opt("endif", "", raw=True)
            else:
                self.comment(f"os.environ[{key!r}] = {shown} -> {option} (an assignment: it wins over the "
                             "environment, and so does an option)")
                self.opt(option, value)
        touched = {c[0] for c in exporter}
        for key in GPX_VARIABLES:
            if key not in touched and key in self.environ:
                shown = "(set)" if "PASSWORD" in key else repr(self.environ[key])
                self.comment(f"{key} = {shown} is in the environment now (the config does not set it): gpx reads it "
                             "at start as the exporter did")
        others = [c for c in changes if c[0] not in GPX_VARIABLES]
        if others:
            self.section("the app's environment: the other variables the config sets")
            for key, kind, value in others:
                self.other_variable(key, kind, value)

    def dependent_variable(self, key, option, dep) -> bool:
        """A variable the config set according to another one (or the CPU
        count), written with uWSGI's if-env: as gpx option `option`, or for
        the app (`env =`) when option is None. False when uWSGI's config logic
        cannot say it: the caller writes the value here, frozen."""
        kind = dep["kind"]
        var = dep.get("var")
        hidden = "PASSWORD" in key
        if kind in ("frozen", "cpu") or key in GUNICORN_VARIABLES:
            return self.frozen_variable(key, dep)
        default = dep.get("default")
        if kind == "cases":
            cases = [(f"{var}={c}", v) for c, v in dep["cases"]]
        elif kind == "any":
            cases = [(var, dep["value"])]
        elif kind == "direct":
            cases = [(var, [(default or ["set"])[0], "%(_)"])]
        else:
            cases = [(var, [(default or ["set"])[0], dep["template"]])]
        if (len(cases) == 1 and cases[0][1] is None and default is not None and default[0] == "set"
                and not representable(default[1])):
            # set unless the variable holds (a value): the config leaves it alone then
            condition = cases[0][0]
            self.comment(f"(!) {key} depends on {self.depends_on(dep)} -> {option or 'env'}, decided where uWSGI "
                         "starts")
            self.flag(f"{key} depends on {self.depends_on(dep)}: written with uWSGI's if-not-env "
                      f"({option or 'env'}), decided where uWSGI starts")
            self.opt("if-not-env", condition)
            if option:
                self.opt(option, default[1])
            else:
                self.opt("env", f"{key}={default[1]}")
            self.opt("endif", "", raw=True)
            return True
        ops = [v for _, v in cases] + ([default] if default is not None else [])
        if any(v is None or v[0] == "del" for _, v in cases) or (default is not None and default[0] == "del"):
            return self.frozen_variable(key, dep)
        if any(representable(v[1].replace("%(_)", "")) for v in ops):
            return self.frozen_variable(key, dep)
        shown = "(hidden)" if hidden else self.depends_on(dep)
        target = option or "env"
        self.comment(f"(!) {key} depends on {shown} -> {target}, decided where uWSGI starts")
        self.flag(f"{key} depends on {'a variable' if hidden else self.depends_on(dep)}: written with uWSGI's "
                  f"if-env ({target}), decided where uWSGI starts")

        def line(value):
            return escape(value).replace("%%(_)", "%(_)")

        if default is None and all(v[0] == "set" for _, v in cases):
            # set in some environments only: one block each (they cannot both hold)
            for condition, (_, value) in cases:
                self.opt("if-env", condition)
                if option:
                    self.opt(option, line(value), raw=True)
                else:
                    self.opt("env", f"{key}={line(value)}", raw=True)
                self.opt("endif", "", raw=True)
            return True
        if option is None and default is None:
            return self.frozen_variable(key, dep)
        # the first that holds: an assignment's case, the variable itself (the
        # environment wins over setdefault), a setdefault's case, the default
        chain = [(c, line(v[1])) for c, v in cases if v[0] == "set"]
        if any(v[0] == "setdefault" for v in ops):
            chain.append((key, "" if option else "%(_)"))
        chain += [(c, line(v[1])) for c, v in cases if v[0] == "setdefault"]
        fallback = default[1] if default is not None else ""
        if option:
            self.chain(option, chain, fallback)
        else:
            self.chain("env", chain, fallback, prefix=f"{key}=", base=key)
        return True

    def frozen_variable(self, key, dep) -> bool:
        what = "a variable" if "PASSWORD" in key else self.depends_on(dep)
        self.comment(f"(!) {key} depends on {what}: written as it is {self.frozen_context(dep)}; edit it for "
                     "another machine or environment")
        self.flag(f"{key} depends on {what}: frozen in the ini as it is {self.frozen_context(dep)}")
        return False

    def other_variable(self, key, kind, value):
        if key in self.env_deps and self.dependent_variable(key, None, self.env_deps[key]):
            return
        if kind == "conditional":
            return  # set only in environments other than this one; frozen_variable said so
        if key in GUNICORN_VARIABLES:
            self.gunicorn_variable(key, kind, value)
            return
        if kind == "del":
            self.comment(f"del os.environ[{key!r}] -> unenv")
            self.opt("unenv", key)
            return
        why = representable(value) or representable(key) or ("=" in key and "its name holds '='")
        if why:
            self.comment(f"not mapped: {key} = {value!r}: {why}")
            return
        if kind in ("setdefault", "respected"):
            self.comment(f"{self.origin(key, kind, repr(value))} -> the same variable for the app")
            self.opt("if-not-env", key)
            self.opt("env", f"{key}={value}")
            self.opt("endif", "", raw=True)
        else:
            self.comment(f"os.environ[{key!r}] = {value!r} -> env")
            self.opt("env", f"{key}={value}")

    def gunicorn_variable(self, key, kind, value):
        """GUNICORN_WORKERS and friends configured Gunicorn (and the exporter):
        under uWSGI its own options decide, and gpx sets the ones an app may
        read from them. Nothing to write; an `env =` line would only make gpx
        explain the variable at every start."""
        what = {"GUNICORN_WORKERS": f"processes = {self.workers_count} decides, and gpx sets GUNICORN_WORKERS to it "
                                    "for the app",
                "GUNICORN_BIND": "the first socket decides, and gpx sets GUNICORN_BIND to it for the app",
                "GUNICORN_WORKER_CLASS": "the worker mode decides, and gpx sets GUNICORN_WORKER_CLASS to its "
                                         "name for the app",
                "GUNICORN_KEEPALIVE": "uWSGI's http-socket has no keep-alive (see keepalive); gpx explains the "
                                      "variable in one line at start if uWSGI's environment still has it"}[key]
        op = "os.environ.setdefault" if kind == "setdefault" else "os.environ[...] ="
        differs = ""
        if key == "GUNICORN_WORKERS" and str(value).strip() != str(self.workers_count):
            differs = f" (it said {value!r}, the config's workers {self.workers_count})"
        self.comment(f"{op} {key} {value!r} -> nothing: it configured Gunicorn; {what}{differs}")

    @staticmethod
    def origin(key, kind, shown):
        if kind == "setdefault":
            return f"os.environ.setdefault({key!r}, {shown})"
        return f"os.environ[{key!r}] = {shown} unless the environment has it"

    def environment_changes(self):
        """(variable, 'setdefault' | 'set' | 'del', value) for each variable the
        config touched, in the order it first touched them."""
        order, ops = [], {}
        for op, key, value in self.report["env_ops"]:
            if key not in ops:
                order.append(key)
                ops[key] = []
            ops[key].append((op, value))
        changed = self.report["env_changed"]
        removed = set(self.report["env_removed"])
        for key in list(changed) + sorted(removed):
            if key not in ops:
                order.append(key)
                ops[key] = [("set", changed.get(key))] if key in changed else [("del", None)]
        respected = set(self.report.get("env_respected", []))
        out = []
        for key in order:
            kinds = [op for op, _ in ops[key]]
            if key in removed or (kinds[-1] == "del"):
                out.append((key, "del", None))
            elif "set" in kinds or "del" in kinds:
                value = changed.get(key, self.environ.get(key))
                if key in respected:
                    # the config only sets it when the environment has not (an `if`, os.environ.get)
                    out.append((key, "respected", self.report["env_fallback"].get(key, value)))
                else:
                    out.append((key, "set", value))
            else:
                value = next(v for op, v in ops[key] if op == "setdefault")
                out.append((key, "setdefault", value))
        return out

    def hooks(self):
        names = [n for n, (kind, _) in SETTINGS.items() if kind == "hook" and self.is_set(n)]
        if not names:
            return
        self.section("hooks")
        hooks = dict(EXPORTER_HOOKS)
        storage = self.storage()
        if storage == "files":
            hooks["default_on_exit"] = ("at exit gpx writes its counters file to disk; the counts continue at the "
                                        "next start")
        elif storage == "redis":
            hooks["default_on_exit"] = ("at exit gpx publishes its totals to Redis a last time; the counts continue "
                                        "at the next start")
        for name in names:
            desc = self.explicit[name]
            stub = desc.get("stub")
            if stub and stub.startswith("gunicorn_prometheus_exporter"):
                func = stub.rpartition(".")[2]
                does = hooks.get(func, "the exporter's own hook: gpx does the exporter's work itself")
                self.mapped(name, f"nothing to write: {does}")
                continue
            called = [n for n in desc.get("names", []) if n in EXPORTER_HOOKS]
            managers = [n for n in desc.get("names", []) if n in EXPORTER_MANAGERS]
            notes = []
            if called:
                notes.append(f"its call of {', '.join(called)} needs nothing: "
                             + "; ".join(hooks[c] for c in called))
            if "MetricsServerManager" in managers or {"setup_server", "start_server"} & set(desc.get("names", [])):
                notes.append("its MetricsServerManager setup_server()/start_server() has no equivalent to write: "
                             "gpx starts its own metrics server (retrying a busy port without blocking)")
            elif managers:
                notes.append(f"the exporter's {', '.join(managers)} are gpx's own internals")
            why = f"your own code is not carried over; under uWSGI it goes in {HOOK_EQUIVALENTS[name]}"
            if notes:
                why += "; " + "; ".join(notes)
            self.not_mapped(name, why)

    def storage(self):
        """"files" or "redis" as the config chose them (REDIS_ENABLED), None when
        that depends on where uWSGI starts."""
        if "REDIS_ENABLED" in self.env_deps:
            return None
        for key, kind, value in self.environment_changes():
            if key == "REDIS_ENABLED" and kind != "del":
                return "redis" if str(value).strip().lower() in ("true", "1", "yes", "on") else "files"
        return None if "REDIS_ENABLED" in self.environ else "files"

    def rest(self):
        left = [n for n in self.setting_deps if n not in self.dep_done and n in self.explicit]
        if left:
            self.section("other values that depended on where gpx-convert ran")
            for name in left:
                self.frozen_note(name)
        left = [n for n in self.explicit if n not in self.done]
        if left:
            self.section("other settings")
            for name in left:
                self.not_mapped(name, WHY_NOT.get(name, "uWSGI has no equivalent"))
        ignored = self.report.get("ignored") or {}
        if ignored:
            self.section("names Gunicorn ignores too")
            for name, value in ignored.items():
                hint = f" (did you mean {name.lower()}?)" if name.lower() in SETTINGS else ""
                self.comment(f"ignored: {name} = {' '.join(repr(value).split())[:120]} is not a Gunicorn "
                             f"setting{hint}")

