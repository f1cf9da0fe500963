"""The /metrics HTTP server in the master.

prometheus_client's WSGI app does the exposition (text, OpenMetrics, gzip);
this module owns binding, retrying while the port is taken, and shutting down
so the port is free again. The server runs on daemon threads, one per
connection with a socket timeout, so a slow or malformed client can neither
block the master nor another scrape.
"""

from __future__ import annotations

import logging
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

logger = logging.getLogger(__name__)

CLIENT_TIMEOUT = 10.0  # seconds a client may take to send its request
RETRY_FIRST = 0.5
RETRY_MAX = 10.0


class _QuietHandler(WSGIRequestHandler):
    timeout = CLIENT_TIMEOUT

    def log_message(self, format, *args):
        """Scrapes are not worth an access-log line each."""


def _server_class(address: str):
    family = socket.AF_INET
    try:
        infos = socket.getaddrinfo(address, None, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family = infos[0][0]
    except OSError:
        pass

    class Server(ThreadingWSGIServer):
        address_family = family
        allow_reuse_address = True

    return Server


class MetricsServer:
    """Serves a registry on ``address:port``; starts once, retries while the port is busy."""

    def __init__(self, address: str, port: int, registry):
        self.address = address
        self.port = port
        self.registry = registry
        self._httpd = None
        self._serve_thread: threading.Thread | None = None
        self._retry_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def waiting(self) -> bool:
        """Whether the port was taken and binding is being retried in the background."""
        retry = self._retry_thread
        return self._httpd is None and retry is not None and retry.is_alive()

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.address in ("0.0.0.0", "") else self.address
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> bool:
        """Serve now if the port is free (True); otherwise keep trying in the background (False).

        While the port is taken, every failed attempt is logged with the
        address, and the wait between attempts doubles up to ``RETRY_MAX``;
        the caller (the Gunicorn master) never waits for it.
        """
        with self._lock:
            if self._httpd is not None:
                return True
            if self._retry_thread is not None and self._retry_thread.is_alive():
                return False
            self._stopping.clear()
            error = self._try_bind()
            if error is None:
                return True
            logger.warning(
                "Metrics server cannot bind %s:%s (%s); retrying in the background in %.1fs",
                self.address,
                self.port,
                error,
                RETRY_FIRST,
            )
            self._retry_thread = threading.Thread(target=self._retry, name="metrics-server-retry", daemon=True)
            self._retry_thread.start()
            return False

    def _try_bind(self) -> OSError | None:
        """Bind and serve; the error if the address cannot be bound."""
        try:
            httpd = make_server(
                self.address,
                self.port,
                make_wsgi_app(self.registry),
                server_class=_server_class(self.address),
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            return exc
        self._httpd = httpd
        self._serve_thread = threading.Thread(target=httpd.serve_forever, name="metrics-server", daemon=True)
        self._serve_thread.start()
        logger.info("Metrics server started successfully on %s:%s", self.address, self.port)
        return None

    def _retry(self) -> None:
        delay = RETRY_FIRST
        while not self._stopping.wait(delay):
            with self._lock:
                if self._stopping.is_set():
                    return
                error = self._try_bind()
                if error is None:
                    return
            delay = min(delay * 2, RETRY_MAX)
            logger.warning(
                "Metrics server still cannot bind %s:%s (%s); next try in %.1fs",
                self.address,
                self.port,
                error,
                delay,
            )

    def stop(self) -> None:
        self._stopping.set()
        retry = self._retry_thread
        if retry is not None and retry is not threading.current_thread():
            retry.join(timeout=2)
        with self._lock:
            httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            if self._serve_thread is not None:
                self._serve_thread.join(timeout=2)
            logger.info("Metrics server on %s:%s stopped", self.address, self.port)

    def close_in_child(self) -> None:
        """A forked worker must not keep the master's listening socket open."""
        httpd = self._httpd
        if httpd is not None:
            try:
                httpd.socket.close()
            except OSError:
                pass
        self._httpd = None
        self._lock = threading.Lock()
