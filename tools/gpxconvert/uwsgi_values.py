"""Gunicorn's values in uWSGI's terms: addresses, ini escaping, the access log
format, the worker model, CPU-count math."""

from __future__ import annotations

import re

from gpxconvert.errors import ConvertError

# Gunicorn's access log atoms and uWSGI's log-format variables for them.
ACCESS_LOG_ATOMS = {
    "h": "%(addr)", "l": "-", "u": "%(user)", "t": "[%(ltime)]", "r": "%(method) %(uri) %(proto)",
    "m": "%(method)", "U": "%(var.PATH_INFO)", "q": "%(var.QUERY_STRING)", "H": "%(proto)", "s": "%(status)",
    "B": "%(size)", "b": "%(size)", "f": "%(referer)", "a": "%(uagent)", "D": "%(micros)", "M": "%(msecs)",
    "p": "<%(pid)>",
}


def parse_address(netloc: str, default_port="8000"):
    """Gunicorn's util.parse_address: a path, an fd number or (host, port)."""
    if re.match(r"unix:(//)?", netloc):
        return re.split(r"unix:(//)?", netloc)[-1]
    if netloc.startswith("fd://"):
        fd = netloc[5:]
        try:
            return int(fd)
        except ValueError:
            raise ConvertError(f"invalid value for bind: {fd!r} is not a valid file descriptor") from None
    if netloc.startswith("tcp://"):
        netloc = netloc.split("tcp://")[1]
    host, port = netloc, default_port
    if "[" in netloc and "]" in netloc:
        host = netloc.split("]")[0][1:]
        port = (netloc.split("]:") + [default_port])[1]
    elif ":" in netloc:
        host, port = (netloc.split(":") + [default_port])[:2]
    elif netloc == "":
        host, port = "0.0.0.0", default_port
    try:
        port = int(port)
    except ValueError:
        raise ConvertError(f"invalid value for bind: {port!r} is not a valid port number") from None
    return host.lower(), port


def uwsgi_address(address) -> str:
    if isinstance(address, str):
        return address  # a Unix socket path
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def escape(value: str) -> str:
    """uWSGI reads `%X` in an ini file as a magic variable: `%%` is a `%`."""
    return str(value).replace("%", "%%")


def representable(value: str) -> str | None:
    """Why a value cannot be written in an ini line, or None."""
    value = str(value)
    if "\n" in value or "\r" in value:
        return "it holds a line break, which an ini line cannot"
    for mark in ("$(", "@("):
        if mark in value:
            return f"it holds `{mark}`, which uWSGI would expand"
    if value != value.strip():
        return "it starts or ends with spaces, which uWSGI strips"
    return None


def translate_access_log_format(fmt: str) -> tuple[str | None, list[str]]:
    """Gunicorn's access_log_format as uWSGI's log-format, and the atoms it cannot say."""
    missing = []

    def atom(match):
        name = match.group(1)
        header = re.fullmatch(r"\{([^}]*)\}([ioe])", name)
        if header and header.group(2) == "i":
            return "%(var.HTTP_" + header.group(1).upper().replace("-", "_") + ")"
        if name in ACCESS_LOG_ATOMS:
            return ACCESS_LOG_ATOMS[name]
        missing.append(name)
        return "-"

    out = re.sub(r"%\(([^)]*)\)s", atom, fmt)
    return (None if missing else out.replace("%%", "%")), missing


def worker_model(worker_class: dict, threads: int) -> tuple[str, str]:
    """(mode, name) of Gunicorn's worker class: mode is sync, gthread, gevent,
    eventlet, tornado, asgi or unknown."""
    if worker_class["t"] == "class":
        names = worker_class["mro"]
        shown = worker_class["name"]
    else:
        shown = str(worker_class["v"])
        uri = shown[len("egg:gunicorn#"):] if shown.startswith("egg:gunicorn#") else shown
        # Gunicorn: a sync worker named by string runs as gthread with threads > 1
        if (uri == "sync" or uri.endswith("SyncWorker")) and threads > 1:
            return "gthread", shown
        names = [uri]
    for name in names:
        last = name.rpartition(".")[2]
        low = last.lower()
        if last in ("PrometheusWorker", "SyncWorker") or low == "sync":
            return "sync", shown
        if last in ("PrometheusThreadWorker", "ThreadWorker") or low == "gthread":
            return "gthread", shown
        if last in ("PrometheusGeventWorker", "GeventWorker", "GeventPyWSGIWorker") or low in (
                "gevent", "gevent_wsgi", "gevent_pywsgi"):
            return "gevent", shown
        if last in ("PrometheusEventletWorker", "EventletWorker") or low == "eventlet":
            return "eventlet", shown
        if last in ("PrometheusTornadoWorker", "TornadoWorker") or low == "tornado":
            return "tornado", shown
        if "uvicorn" in name.lower() or "aiohttp" in name.lower() or low.endswith("asgiworker"):
            return "asgi", shown
    return "unknown", shown


def cpu_expr(a: int, b: int) -> str:
    """a * CPUs + b in uWSGI's placeholder math (%k is the CPU count)."""
    if a == 1 and b == 0:
        return "%k"
    return "%(%k" + (f" * {a}" if a != 1 else "") + (f" + {b}" if b > 0 else f" - {-b}" if b < 0 else "") + ")"

