"""What every Prometheus worker class adds to its Gunicorn base class.

In the master: start the exporter from ``check_config`` (Gunicorn calls it
whether or not the config assigns any hook), take a slot and an exit note
when the worker object is built, give the slot back when the master reaps
the worker. In the worker: move metric values to the slot's block, wrap the
application it loads, and say in the exit note why it leaves.
"""

from __future__ import annotations

from .. import values
from ..instrument_gunicorn import instrument_gunicorn
from ..lifecycle import ExitNote, own_exit_reason, process_cpu_seconds
from ..logs import route_to_gunicorn
from ..master import get_exporter, start_exporter
from ..request_metrics import RequestRecorder

values.install()


class PrometheusWorkerMixin:
    """Mix in before a Gunicorn worker class: ``class W(PrometheusWorkerMixin, SyncWorker)``."""

    # True where requests run on several OS threads at once (gthread): on the
    # Python request path their metric updates then take the slot's lock (the
    # compiled path needs none).
    threaded_requests = False
    # Record requests with the compiled writer and hooks where they were built;
    # False keeps the Python ones (they do the same, and run wherever C did not build).
    compiled_request_path = True

    @classmethod
    def check_config(cls, cfg, log):
        parent = getattr(super(), "check_config", None)
        if parent is not None:
            parent(cfg, log)
        route_to_gunicorn(log)
        start_exporter(cfg.worker_class_str)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        exporter = get_exporter() or start_exporter(self.cfg.worker_class_str)
        slot = self.metrics_slot = exporter.claim_slot(self)
        note = self.metrics_exit_note = ExitNote()
        self.metrics_stop_signal = None
        close_tmp = self.tmp.close

        def close_and_release():
            try:
                return close_tmp()
            finally:
                exporter.release_slot(slot)  # in the master, reads the exit note first
                note.close()

        # Gunicorn closes a worker's tmp file when it reaps the worker (and a
        # child closes its siblings' right after fork, which release ignores).
        self.tmp.close = close_and_release

    def init_process(self):
        block = self.metrics_slot.block
        values.adopt_block(block, carry_values=False)
        self.metrics_recorder = RequestRecorder(block, self.threaded_requests, self.compiled_request_path)
        try:
            super().init_process()  # runs the worker until it leaves
        except SystemExit as exc:
            self._leave_exit_note(clean=exc.code in (None, 0))
            raise
        except BaseException:
            self._leave_exit_note(clean=False)
            raise
        self._leave_exit_note(clean=True)

    def _leave_exit_note(self, clean: bool) -> None:
        self.metrics_exit_note.write(own_exit_reason(self, clean), process_cpu_seconds())

    # Gunicorn's handlers for the signals that ask a worker to stop; the note says it was asked.
    def handle_exit(self, sig, frame):
        self.metrics_stop_signal = sig
        super().handle_exit(sig, frame)

    def handle_quit(self, sig, frame):
        self.metrics_stop_signal = sig
        super().handle_quit(sig, frame)

    # Where the Gunicorn worker keeps the application it loaded.
    app_attribute = "wsgi"

    def load_wsgi(self):
        super().load_wsgi()
        setattr(self, self.app_attribute, self.instrument(getattr(self, self.app_attribute)))

    def instrument(self, app):
        """The loaded application, wrapped so that every request it serves is recorded.

        Gunicorn's sync, gthread, gevent and eventlet workers call the
        ``pre_request`` hook before each request and ``post_request`` after
        its response, which start and finish the record.
        """
        return instrument_gunicorn(app, self.metrics_recorder, self.cfg)
