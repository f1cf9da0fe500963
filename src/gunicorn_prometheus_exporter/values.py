"""The value class behind every prometheus_client metric in a Gunicorn process.

``prometheus_client`` reads ``prometheus_client.values.ValueClass`` each time a
metric (or a labelled child) is created. Installing ``SlotValue`` there makes
the application's own metrics live in the same per-slot shared-memory block as
the exporter's request metrics, so the master can aggregate both, a SIGKILL
loses nothing already written, and storage does not grow with restarts.

Each process has one current block. A process that is not a Gunicorn worker
(the master, a test, a script) starts on a private in-memory block; the
master moves to its own exported block at start-up, and each worker moves to
its slot's block right after the fork.
"""

from __future__ import annotations

import json
import weakref

import prometheus_client.values

from .store import Block, open_memory_block

_block: Block | None = None
_values: weakref.WeakSet = weakref.WeakSet()


def encode_key(typ, mode, metric_name, name, labelnames, labelvalues, help_text) -> bytes:
    """The entry key of one sample: everything the master needs to aggregate it."""
    return json.dumps(
        [typ, mode, metric_name, name, list(labelnames), list(labelvalues), help_text],
        separators=(",", ":"),
    ).encode()


def decode_key(key: bytes):
    typ, mode, metric_name, name, labelnames, labelvalues, help_text = json.loads(key)
    return typ, mode, metric_name, name, tuple(zip(labelnames, labelvalues, strict=True)), help_text


def current_block() -> Block:
    global _block
    if _block is None:
        _block = open_memory_block("local")
    return _block


class SlotValue:
    """A metric value stored in the current process's block."""

    _multiprocess = True

    def __init__(self, typ, metric_name, name, labelnames, labelvalues, help_text, multiprocess_mode="", **kwargs):
        self._key = encode_key(typ, multiprocess_mode, metric_name, name, labelnames, labelvalues, help_text)
        self._is_gauge = typ == "gauge"
        self._block = current_block()
        # Created now, so the series shows (at zero) before its first update.
        self._cell = self._block.cell(self._key)
        _values.add(self)

    def _resolve(self) -> int:
        self._cell = self._block.cell(self._key)
        return self._cell

    def inc(self, amount):
        cell = self._cell if self._cell is not None else self._resolve()
        block = self._block
        with block.lock:
            block.cells[cell] += amount

    def set(self, value, timestamp=None):
        cell = self._cell if self._cell is not None else self._resolve()
        block = self._block
        with block.lock:
            block.cells[cell] = value
            block.cells[cell + 1] = timestamp or 0.0

    def get(self):
        cell = self._cell
        if cell is None:
            cell = self._block.lookup(self._key)
            if cell is None:
                return 0.0
        return self._block.cells[cell]

    def set_exemplar(self, exemplar):
        return None

    def get_exemplar(self):
        return None


def install() -> None:
    """Make every metric created from now on a ``SlotValue``."""
    prometheus_client.values.ValueClass = SlotValue


def adopt_block(block: Block, carry_values: bool) -> None:
    """Move this process's metric values to ``block``.

    ``carry_values`` moves what this process has recorded so far (the master
    adopting its exported block). A freshly forked worker passes False: what
    the master recorded stays counted in the master's block, and the worker
    creates its cells lazily on first update, as prometheus_client does.
    """
    global _block
    block.reset_lock()
    for value in list(_values):
        old_value = old_ts = None
        if carry_values and value._cell is not None:
            old_value = value._block.cells[value._cell]
            old_ts = value._block.cells[value._cell + 1]
        value._block = block
        value._cell = None
        if carry_values:
            cell = value._resolve()
            if old_value:
                if value._is_gauge:
                    block.cells[cell] = old_value
                else:
                    block.cells[cell] += old_value
                block.cells[cell + 1] = old_ts
    _block = block
