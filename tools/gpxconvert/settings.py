"""Gunicorn 23.0.0's settings: each one's kind (how Gunicorn checks a value
from a config file), its default, and the arity of its server hooks."""

from __future__ import annotations

import os

# -- Gunicorn 23.0.0's settings ------------------------------------------------------------------
# name: (kind, default). The kind says how Gunicorn checks a value from a
# config file (its validator); defaults that Gunicorn computes from the
# process (bind, workers, chdir, user, group) are filled in by defaults().
SETTINGS: dict[str, tuple[str, object]] = {
    "config": ("string", "./gunicorn.conf.py"),
    "wsgi_app": ("string", None),
    "bind": ("list_string", ["127.0.0.1:8000"]),
    "backlog": ("pos_int", 2048),
    "workers": ("pos_int", 1),
    "worker_class": ("class", "sync"),
    "threads": ("pos_int", 1),
    "worker_connections": ("pos_int", 1000),
    "max_requests": ("pos_int", 0),
    "max_requests_jitter": ("pos_int", 0),
    "timeout": ("pos_int", 30),
    "graceful_timeout": ("pos_int", 30),
    "keepalive": ("pos_int", 2),
    "limit_request_line": ("pos_int", 4094),
    "limit_request_fields": ("pos_int", 100),
    "limit_request_field_size": ("pos_int", 8190),
    "reload": ("bool", False),
    "reload_engine": ("reload_engine", "auto"),
    "reload_extra_files": ("list_files", []),
    "spew": ("bool", False),
    "check_config": ("bool", False),
    "print_config": ("bool", False),
    "preload_app": ("bool", False),
    "sendfile": ("bool", None),
    "reuse_port": ("bool", False),
    "chdir": ("chdir", None),
    "daemon": ("bool", False),
    "raw_env": ("list_string", []),
    "pidfile": ("string", None),
    "worker_tmp_dir": ("string", None),
    "user": ("user", None),
    "group": ("group", None),
    "umask": ("pos_int", 0),
    "initgroups": ("bool", False),
    "tmp_upload_dir": ("string", None),
    "secure_scheme_headers": ("dict", {"X-FORWARDED-PROTOCOL": "ssl", "X-FORWARDED-PROTO": "https",
                                       "X-FORWARDED-SSL": "on"}),
    "forwarded_allow_ips": ("addr_list", "127.0.0.1,::1"),
    "accesslog": ("string", None),
    "disable_redirect_access_to_syslog": ("bool", False),
    "access_log_format": ("string", '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'),
    "errorlog": ("string", "-"),
    "loglevel": ("string", "info"),
    "capture_output": ("bool", False),
    "logger_class": ("class", "gunicorn.glogging.Logger"),
    "logconfig": ("string", None),
    "logconfig_dict": ("dict", {}),
    "logconfig_json": ("string", None),
    "syslog_addr": ("string", "udp://localhost:514"),
    "syslog": ("bool", False),
    "syslog_prefix": ("string", None),
    "syslog_facility": ("string", "user"),
    "enable_stdio_inheritance": ("bool", False),
    "statsd_host": ("string", None),
    "dogstatsd_tags": ("string", ""),
    "statsd_prefix": ("string", ""),
    "proc_name": ("string", None),
    "default_proc_name": ("string", "gunicorn"),
    "pythonpath": ("string", None),
    "paste": ("string", None),
    "on_starting": ("hook", None),
    "on_reload": ("hook", None),
    "when_ready": ("hook", None),
    "pre_fork": ("hook", None),
    "post_fork": ("hook", None),
    "post_worker_init": ("hook", None),
    "worker_int": ("hook", None),
    "worker_abort": ("hook", None),
    "pre_exec": ("hook", None),
    "pre_request": ("hook", None),
    "post_request": ("hook", None),
    "child_exit": ("hook", None),
    "worker_exit": ("hook", None),
    "nworkers_changed": ("hook", None),
    "on_exit": ("hook", None),
    "ssl_context": ("hook", None),
    "proxy_protocol": ("bool", False),
    "proxy_allow_ips": ("addr_list", "127.0.0.1,::1"),
    "keyfile": ("string", None),
    "certfile": ("string", None),
    "ssl_version": ("ssl_version", 2),
    "cert_reqs": ("pos_int", 0),
    "ca_certs": ("string", None),
    "suppress_ragged_eofs": ("bool", True),
    "do_handshake_on_connect": ("bool", False),
    "ciphers": ("string", None),
    "raw_paste_global_conf": ("list_string", []),
    "permit_obsolete_folding": ("bool", False),
    "strip_header_spaces": ("bool", False),
    "permit_unconventional_http_method": ("bool", False),
    "permit_unconventional_http_version": ("bool", False),
    "casefold_http_method": ("bool", False),
    "forwarder_headers": ("string_list", "SCRIPT_NAME,PATH_INFO"),
    "header_map": ("header_map", "drop"),
}

# The positional arguments each server hook takes (Gunicorn checks them);
# post_request takes 2 to 4.
HOOK_ARITY = {
    "on_starting": 1, "on_reload": 1, "when_ready": 1, "pre_fork": 2, "post_fork": 2, "post_worker_init": 1,
    "worker_int": 1, "worker_abort": 1, "pre_exec": 1, "pre_request": 2, "post_request": -1, "child_exit": 2,
    "worker_exit": 2, "nworkers_changed": 3, "on_exit": 1, "ssl_context": 2,
}


def defaults(environ) -> dict:
    """Gunicorn's defaults in this process and environment."""
    out = {name: default for name, (_, default) in SETTINGS.items()}
    if "PORT" in environ:
        out["bind"] = [f"0.0.0.0:{environ.get('PORT')}"]
    out["workers"] = int(environ.get("WEB_CONCURRENCY", 1))
    out["chdir"] = os.getcwd()
    out["user"] = os.geteuid()
    out["group"] = os.getegid()
    return out

