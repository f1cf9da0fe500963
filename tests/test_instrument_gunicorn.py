"""The Gunicorn request path's three parts (pre_request hook, wrapper, post_request hook), in-process on a real block."""

from types import SimpleNamespace

from gunicorn.config import Config

from gunicorn_prometheus_exporter.instrument_gunicorn import instrument_gunicorn
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder
from gunicorn_prometheus_exporter.store import open_memory_block
from gunicorn_prometheus_exporter.values import decode_key


def hello(environ, start_response):
    start_response("201 Created", [])
    return [b"hello"]


def recorded(block) -> dict:
    return {decode_key(key)[3:5]: value for key, value, _ in block.items() if value}


def serve(app, cfg, environ, worker=None):
    """One request the way Gunicorn's request loop runs it: hook, app, body, hook."""
    request = SimpleNamespace(method=environ["REQUEST_METHOD"], path="/")
    response = SimpleNamespace(status=None, sent=0)

    def start_response(status, headers, exc_info=None):
        response.status = status

    cfg.pre_request(worker, request)
    for chunk in app(environ, start_response):
        response.sent += len(chunk)
    cfg.post_request(worker, request, environ, response)


def test_wrapping_again_on_reload_still_records_each_request_once_and_runs_the_configs_hooks():
    calls = []
    cfg = Config()
    cfg.set("pre_request", lambda worker, req: calls.append(req.method))
    cfg.set("post_request", lambda worker, req, environ, resp: calls.append(resp.status))
    block = open_memory_block("test")
    recorder = RequestRecorder(block)
    instrument_gunicorn(hello, recorder, cfg)
    app = instrument_gunicorn(hello, recorder, cfg)  # Gunicorn's reload loads the app again

    serve(app, cfg, {"REQUEST_METHOD": "PUT", "CONTENT_LENGTH": "12"})

    values = recorded(block)
    assert values[("gunicorn_requests_total", (("method", "PUT"), ("status", "201")))] == 1
    assert values[("gunicorn_request_size_bytes_sum", ())] == 12
    assert values[("gunicorn_response_size_bytes_sum", ())] == 5
    assert ("gunicorn_worker_busy", ()) not in values  # back to 0 after the request
    assert calls == ["PUT", "201 Created"]


def test_the_default_pre_request_logs_only_when_the_log_level_is_debug():
    for level, logged in (("info", []), ("debug", [("%s %s", "GET", "/")])):
        messages = []
        worker = SimpleNamespace(log=SimpleNamespace(debug=lambda *args, seen=messages: seen.append(args)))
        cfg = Config()
        cfg.set("loglevel", level)
        app = instrument_gunicorn(hello, RequestRecorder(open_memory_block("test")), cfg)
        serve(app, cfg, {"REQUEST_METHOD": "GET"}, worker)
        assert messages == logged, level


def test_a_request_gunicorn_failed_before_the_app_is_not_counted():
    cfg = Config()
    block = open_memory_block("test")
    instrument_gunicorn(hello, RequestRecorder(block), cfg)
    request = SimpleNamespace(method="GET", path="/")
    cfg.pre_request(None, request)
    assert recorded(block) == {("gunicorn_worker_busy", ()): 1}
    cfg.post_request(None, request, {}, None)  # wsgi.create raised: no response
    assert recorded(block) == {}
    cfg.post_request(None, SimpleNamespace(method="GET"), {}, None)  # one pre_request never saw
    assert recorded(block) == {}
