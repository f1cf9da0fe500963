"""The Gunicorn request path's three parts (pre_request hook, wrapper, post_request hook), in-process on a real block.

Every test runs twice: on the compiled hooks (``_hotpath``) and on the Python ones.
"""

import threading
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from gunicorn_prometheus_exporter.collector import KeyCache, aggregate
from gunicorn_prometheus_exporter.instrument_gunicorn import instrument_gunicorn
from gunicorn_prometheus_exporter.request_metrics import RequestRecorder, _hotpath
from gunicorn_prometheus_exporter.store import open_memory_block


@pytest.fixture(params=["compiled", "python"])
def compiled(request) -> bool:
    return request.param == "compiled"


def test_the_compiled_request_path_was_built():
    # setup.py builds it optionally (a machine without a compiler gets the
    # Python path); this project's machines have one, so a failed build shows here.
    assert _hotpath is not None
    assert RequestRecorder(open_memory_block("test")).writer is not None


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
    try:
        for chunk in app(environ, start_response):
            response.sent += len(chunk)
    finally:
        cfg.post_request(worker, request, environ, response)


def test_wrapping_again_on_reload_still_records_each_request_once_and_runs_the_configs_hooks(compiled):
    calls = []
    cfg = Config()
    cfg.set("pre_request", lambda worker, req: calls.append(req.method))
    cfg.set("post_request", lambda worker, req, environ, resp: calls.append(resp.status))
    block = open_memory_block("test")
    recorder = RequestRecorder(block, compiled=compiled)
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


def test_the_default_pre_request_logs_only_when_the_log_level_is_debug(compiled):
    for level, logged in (("info", []), ("debug", [("%s %s", "GET", "/")])):
        messages = []
        worker = SimpleNamespace(log=SimpleNamespace(debug=lambda *args, seen=messages: seen.append(args)))
        cfg = Config()
        cfg.set("loglevel", level)
        app = instrument_gunicorn(hello, RequestRecorder(open_memory_block("test"), compiled=compiled), cfg)
        serve(app, cfg, {"REQUEST_METHOD": "GET"}, worker)
        assert messages == logged, level


def test_a_request_gunicorn_failed_before_the_app_is_not_counted(compiled):
    cfg = Config()
    block = open_memory_block("test")
    instrument_gunicorn(hello, RequestRecorder(block, compiled=compiled), cfg)
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


def test_the_requests_counter_is_the_count_of_the_duration_histogram_by_method_and_status(compiled):
    block = open_memory_block("test")
    recorder = RequestRecorder(block, compiled=compiled)
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


def failing(environ, start_response):
    start_response("200 OK", [])
    raise KeyError("boom")


def test_requests_off_the_common_path_are_recorded_as_the_client_saw_them(compiled):
    cfg = Config()
    block = open_memory_block("test")
    recorder = RequestRecorder(block, compiled=compiled)
    app = instrument_gunicorn(hello, recorder, cfg)
    # A Content-Length that is not plain digits, an unknown method, a file body Gunicorn sent itself.
    serve(app, cfg, {"REQUEST_METHOD": "BREW", "CONTENT_LENGTH": " 7"})
    request, response = SimpleNamespace(method="GET"), SimpleNamespace(status="200 OK", sent=0)
    cfg.pre_request(None, request)
    cfg.post_request(None, request, {"gunicorn_prometheus_exporter.file_length": 4096}, response)
    # An exception before any body byte: the client got Gunicorn's 500.
    broken = instrument_gunicorn(failing, recorder, cfg)
    with pytest.raises(KeyError):
        serve(broken, cfg, {"REQUEST_METHOD": "GET"})

    values = recorded(block)
    requests = {labels: value for (name, labels), value in values.items() if name == "gunicorn_requests_total"}
    assert requests == {
        (("method", "OTHER"), ("status", "201")): 1,
        (("method", "GET"), ("status", "200")): 1,
        (("method", "GET"), ("status", "500")): 1,
    }
    assert values[("gunicorn_request_size_bytes_sum", ())] == 7
    assert values[("gunicorn_response_size_bytes_sum", ())] == 5 + 4096
    assert values[("gunicorn_response_size_bytes_bucket", (("le", "10000.0"),))] == 3
    assert values[("gunicorn_request_exceptions_total", (("exception", "KeyError"),))] == 1
    assert ("gunicorn_requests_in_progress", ()) not in values


def test_requests_on_many_threads_at_once_lose_no_update(compiled):
    # gthread: the compiled hooks take no lock (each update is one C call
    # under the GIL); the Python ones take the slot's lock.
    cfg = Config()
    block = open_memory_block("test")
    app = instrument_gunicorn(hello, RequestRecorder(block, threaded=True, compiled=compiled), cfg)
    threads, per_thread = 8, 3000

    def serve_many():
        for _ in range(per_thread):
            serve(app, cfg, {"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "3"})

    workers = [threading.Thread(target=serve_many) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()

    values = recorded(block)
    total = threads * per_thread
    assert values[("gunicorn_requests_total", (("method", "GET"), ("status", "201")))] == total
    assert values[("gunicorn_request_size_bytes_sum", ())] == 3 * total
    assert values[("gunicorn_response_size_bytes_sum", ())] == 5 * total
    assert ("gunicorn_requests_in_progress", ()) not in values
