"""The Gunicorn request path's two halves (wrapper and post_request hook), in-process on a real block."""

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


def serve(app, cfg, environ):
    response = SimpleNamespace(status=None, sent=0)

    def start_response(status, headers, exc_info=None):
        response.status = status

    for chunk in app(environ, start_response):
        response.sent += len(chunk)
    cfg.post_request(None, SimpleNamespace(method=environ["REQUEST_METHOD"]), environ, response)


def test_wrapping_again_on_reload_still_records_each_request_once_and_runs_the_configs_hook():
    calls = []
    cfg = Config()
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
    assert calls == ["201 Created"]


def test_a_request_gunicorn_failed_before_the_app_is_not_counted():
    cfg = Config()
    block = open_memory_block("test")
    instrument_gunicorn(hello, RequestRecorder(block), cfg)
    cfg.post_request(None, SimpleNamespace(method="GET"), {}, None)
    assert recorded(block) == {}
