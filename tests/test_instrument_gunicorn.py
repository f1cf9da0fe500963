"""The Gunicorn request path's three parts (pre_request hook, wrapper, post_request hook), in-process on a real block."""

from types import SimpleNamespace

from gunicorn.config import Config

from gunicorn_prometheus_exporter.collector import KeyCache, aggregate
from gunicorn_prometheus_exporter.instrument_gunicorn import instrument_gunicorn
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder
from gunicorn_prometheus_exporter.store import open_memory_block


def hello(environ, start_response):
    start_response("201 Created", [])
    return [b"hello"]


def recorded(block) -> dict:
    """The block's non-zero samples as the master serves them: {(name, ((label, value), ...)): value}."""
    families = aggregate([("0", True, block.items())], KeyCache())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
        if sample.value
    }


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
    assert values[("gunicorn_request_duration_seconds_count", (("method", "PUT"),))] == 1
    assert ("gunicorn_requests_in_progress", ()) not in values  # back to 0 after the request
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
    assert recorded(block) == {
        ("gunicorn_requests_in_progress", ()): 1,
        ("gunicorn_worker_busy", (("worker", "0"),)): 1,
    }
    cfg.post_request(None, request, {}, None)  # wsgi.create raised: no response
    assert recorded(block) == {}
    cfg.post_request(None, SimpleNamespace(method="GET"), {}, None)  # one pre_request never saw
    assert recorded(block) == {}


def test_the_requests_counter_is_the_count_of_the_duration_histogram_by_method_and_status():
    block = open_memory_block("test")
    recorder = RequestRecorder(block)
    for method, status, duration in (
        ("GET", "200", 0.001),
        ("GET", "200", 0.3),
        ("GET", "404", 0.02),
        ("POST", "200", 2),
    ):
        recorder.started()
        recorder.finished(method, status, duration, 0, 10)

    values = recorded(block)
    requests = {labels: value for (name, labels), value in values.items() if name == "gunicorn_requests_total"}
    assert requests == {
        (("method", "GET"), ("status", "200")): 2,
        (("method", "GET"), ("status", "404")): 1,
        (("method", "POST"), ("status", "200")): 1,
    }
    # The histogram is exposed by method alone: its statuses summed.
    assert values[("gunicorn_request_duration_seconds_count", (("method", "GET"),))] == 3
    assert values[("gunicorn_request_duration_seconds_sum", (("method", "GET"),))] == 0.321
    assert values[("gunicorn_request_duration_seconds_bucket", (("le", "0.025"), ("method", "GET")))] == 2
    assert values[("gunicorn_request_duration_seconds_bucket", (("le", "+Inf"), ("method", "POST")))] == 1
    assert values[("gunicorn_worker_requests_total", (("worker", "0"),))] == 4
