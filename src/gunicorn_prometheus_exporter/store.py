"""Shared-memory blocks: one per worker slot, written by the worker, read by the master.

A block is a memory-mapped table of ``key -> (value, timestamp)`` entries, the
same idea as ``prometheus_client``'s ``mmap_dict`` but backed by any file
descriptor: a file in the multiprocess directory (file storage) or an
anonymous ``memfd`` (Redis storage, which must create no files).

Layout (native byte order, every field 8-byte aligned)::

    header   u64 used bytes | u64 reserved
    entry    u32 key length | key bytes padded to 8 | f64 value | f64 timestamp

Entries are only ever appended, so an offset names the same key for the life
of the block. The writer stores an entry completely before it publishes the
new ``used`` length, so a reader in another process never sees half an entry.
Values are aligned 8-byte stores, which are atomic on every platform we run
on: the master can read while a worker writes, without a lock.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading

HEADER_SIZE = 16
INITIAL_SIZE = 1 << 15  # 32 KiB: a few hundred series before the first growth
_USED = struct.Struct("Q")
_KEYLEN = struct.Struct("I")
_VALUE_TS = struct.Struct("dd")


def _entry_size(key_len: int) -> int:
    # u32 length + key, padded so the value that follows is 8-byte aligned.
    return ((4 + key_len + 7) & ~7) + 16


class Block:
    """One slot's table of metric cells in shared memory.

    ``index`` maps an encoded key to the cell number of its value
    (``cells[n]`` is the value, ``cells[n + 1]`` its timestamp), so hot-path
    writers can keep cell numbers and write with a plain store.
    """

    def __init__(self, fd: int, name: str, path: str | None = None):
        self.fd = fd
        self.name = name
        self.path = path
        self.lock = threading.Lock()
        self._retired: list = []
        size = os.fstat(fd).st_size
        if size < INITIAL_SIZE:
            os.ftruncate(fd, INITIAL_SIZE)
            size = INITIAL_SIZE
        self._map(size)
        if self.used == 0:
            _USED.pack_into(self._mmap, 0, HEADER_SIZE)
        self.index: dict[bytes, int] = {}
        self._scanned = HEADER_SIZE
        self.refresh()

    # -- mapping ---------------------------------------------------------

    def _map(self, size: int) -> None:
        self._mmap = mmap.mmap(self.fd, size)
        self.cells = memoryview(self._mmap).cast("d")

    def _remap(self, size: int) -> None:
        # The old mapping stays open: it maps the same pages of the same file, so
        # a writer still holding the old ``cells`` (a request-path writer that
        # takes no lock) keeps writing to the right place. Blocks double when
        # they grow, so the retired mappings add up to less than the current one.
        self._retired.append((self._mmap, self.cells))
        self._map(size)

    @property
    def used(self) -> int:
        return _USED.unpack_from(self._mmap, 0)[0]

    def _ensure_mapped(self, used: int) -> None:
        """Follow a block another process has grown."""
        if used > len(self._mmap):
            self._remap(os.fstat(self.fd).st_size)

    # -- reading ---------------------------------------------------------

    def refresh(self) -> None:
        """Index entries appended since the last look (by any process)."""
        used = self.used
        self._ensure_mapped(used)
        pos = self._scanned
        buf = self._mmap
        while pos < used:
            (key_len,) = _KEYLEN.unpack_from(buf, pos)
            key = bytes(buf[pos + 4 : pos + 4 + key_len])
            size = _entry_size(key_len)
            self.index[key] = (pos + size - 16) >> 3
            pos += size
        self._scanned = pos

    def items(self):
        """Yield ``(key, value, timestamp)`` for every entry, reading live values."""
        self.refresh()
        cells = self.cells
        for key, cell in self.index.items():
            yield key, cells[cell], cells[cell + 1]

    def lookup(self, key: bytes) -> int | None:
        cell = self.index.get(key)
        if cell is None:
            self.refresh()
            cell = self.index.get(key)
        return cell

    # -- writing (the slot's own worker; the master only between workers) -

    def cell(self, key: bytes) -> int:
        """The cell number for ``key``, appending a zeroed entry if it is new."""
        cell = self.index.get(key)
        if cell is not None:
            return cell
        with self.lock:
            return self._append(key)

    def _append(self, key: bytes) -> int:
        cell = self.lookup(key)
        if cell is not None:
            return cell
        used = self.used
        size = _entry_size(len(key))
        if used + size > len(self._mmap):
            new_size = len(self._mmap)
            while used + size > new_size:
                new_size *= 2
            os.ftruncate(self.fd, new_size)
            self._remap(new_size)
        buf = self._mmap
        _KEYLEN.pack_into(buf, used, len(key))
        buf[used + 4 : used + 4 + len(key)] = key
        _VALUE_TS.pack_into(buf, used + size - 16, 0.0, 0.0)
        _USED.pack_into(buf, 0, used + size)  # publish only once complete
        cell = (used + size - 16) >> 3
        self.index[key] = cell
        self._scanned = used + size
        return cell

    def zero(self, keys_filter) -> None:
        """Reset every cell whose key matches; used for live gauges of a dead worker."""
        self.refresh()
        cells = self.cells
        for key, cell in self.index.items():
            if keys_filter(key):
                cells[cell] = 0.0
                cells[cell + 1] = 0.0

    def reset_lock(self) -> None:
        """Give a freshly forked process a lock nobody else can be holding."""
        self.lock = threading.Lock()

    def close(self) -> None:
        try:
            for mapping, cells in [*self._retired, (self._mmap, self.cells)]:
                cells.release()
                mapping.close()
            self._retired.clear()
        finally:
            os.close(self.fd)


def open_file_block(path: str, name: str) -> Block:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    return Block(fd, name, path)


def open_memory_block(name: str) -> Block:
    """A block in anonymous shared memory: shared with forked children, no file anywhere."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create(f"gunicorn-metrics-{name}", os.MFD_CLOEXEC)
    else:  # pragma: no cover - non-Linux: an unlinked temporary file
        import tempfile

        handle, path = tempfile.mkstemp(prefix="gunicorn-metrics-")
        os.unlink(path)
        fd = handle
    return Block(fd, name)
