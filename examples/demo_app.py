"""The demo WSGI app: a few routes that exercise every request metric."""


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/raise":
        raise RuntimeError("the demo app raised on purpose")
    if path == "/missing":
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    if path == "/sleep":
        import time

        seconds = float(environ.get("QUERY_STRING", "").partition("=")[2] or "1")
        time.sleep(seconds)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from gpx's demo app, %d bytes received\n" % len(body)]
