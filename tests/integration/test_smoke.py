from conftest import parse_metrics


def test_counts_one_request(build, server_factory):
    s = server_factory(build, "--processes", "1").start()
    assert s.build.version()
    import requests
    requests.get(s.url("/"), timeout=5)
    s.wait_requests(2)  # the readiness probe and this one
    m = s.scrape()
    assert m.value("gunicorn_requests_total", method="GET", status="200") == 2
