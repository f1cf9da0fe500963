import pytest
from harness import Gunicorn


@pytest.fixture
def gunicorn(tmp_path):
    """Factory for real Gunicorn servers; every one started is stopped after the test."""
    servers = []

    def make(**kwargs) -> Gunicorn:
        server = Gunicorn(tmp_path, **kwargs)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
