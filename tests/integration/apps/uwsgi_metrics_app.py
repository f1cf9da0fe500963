"""A WSGI app that changes uWSGI metrics it declared with `metric`:
/inc adds 1 to the counter app.jobs, /set?N sets the gauge app.queue-depth
to N. Anything else answers 200. A refused change answers 500."""

import uwsgi


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    ok = True
    if path == "/inc":
        ok = uwsgi.metric_inc("app.jobs") is True
    elif path == "/set":
        ok = uwsgi.metric_set("app.queue-depth", int(environ.get("QUERY_STRING") or "0")) is True
    start_response("200 OK" if ok else "500 Internal Server Error", [("Content-Type", "text/plain")])
    return [b"ok\n" if ok else b"refused\n"]
