"""Hello world that reads the request's body and answers the status its path
names ("/404": 404 Not Found; anything else: 200): the hook's other common
requests, for tests/bench/instructions.py --method POST / --status 404."""

STATUS = {"/404": "404 Not Found"}


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response(STATUS.get(environ.get("PATH_INFO", "/"), "200 OK"),
                   [("Content-Type", "text/plain"), ("Content-Length", "12")])
    return [b"Hello World\n"]
