"""Hello world: the cheapest possible request, so the exporter's own cost shows."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"Hello world\n"]
