"""How many connections wait in a listening socket's accept queue, and how many may.

Linux reports both for a listening TCP socket in ``TCP_INFO``: on a socket
in the LISTEN state ``tcpi_unacked`` is the accept queue's length and
``tcpi_sacked`` its limit (``listen()``'s backlog capped by
``net.core.somaxconn``). Where ``TCP_INFO`` is refused (some sandboxes) the
kernel's socket table answers instead: the ``rx_queue`` column of the
listener's line in ``/proc/net/tcp`` or ``/proc/net/tcp6`` is the queue's
length, and the limit is Gunicorn's ``backlog`` setting capped by
``/proc/sys/net/core/somaxconn``, as the kernel caps it. Where neither exists
(macOS, the BSDs, Windows) and for Unix-domain listeners, ``listen_queue``
returns None and the exporter leaves the two series out rather than report a
made-up zero.

Reading either costs one system call or one small file: done at scrape time
by the master, never on the request path.
"""

from __future__ import annotations

import os
import socket
import struct

TCP_LISTEN = 10  # tcpi_state of a listening socket (include/net/tcp_states.h)
# struct tcp_info: eight u8 fields (state first), then u32 rto, ato, snd_mss, rcv_mss, unacked, sacked, ...
_TCP_INFO = struct.Struct("=B7xIIIIII")
_TCP_INFO_SIZE = _TCP_INFO.size
_PROC_TABLES = {socket.AF_INET: "/proc/net/tcp", socket.AF_INET6: "/proc/net/tcp6"}
_PROC_LISTEN = "0A"


def _from_tcp_info(sock: socket.socket) -> tuple[int, int] | None:
    tcp_info = getattr(socket, "TCP_INFO", None)
    if tcp_info is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, tcp_info, _TCP_INFO_SIZE)
    except OSError:
        return None
    if len(raw) < _TCP_INFO_SIZE:
        return None
    state, _rto, _ato, _snd_mss, _rcv_mss, unacked, sacked = _TCP_INFO.unpack(raw)
    if state != TCP_LISTEN:
        return None
    return unacked, sacked


def _from_proc(sock: socket.socket, configured_backlog: int | None) -> tuple[int, int | None] | None:
    table = _PROC_TABLES.get(sock.family)
    if table is None:
        return None
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
        with open(table) as lines:
            next(lines)  # header
            for line in lines:
                # sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode ...
                fields = line.split()
                if len(fields) > 9 and fields[9] == inode and fields[3] == _PROC_LISTEN:
                    length = int(fields[4].split(":")[1], 16)
                    return length, _capped_limit(configured_backlog)
    except (OSError, ValueError, StopIteration):
        return None
    return None


def _capped_limit(configured_backlog: int | None) -> int | None:
    if configured_backlog is None:
        return None
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            return min(configured_backlog, int(f.read()))
    except (OSError, ValueError):
        return configured_backlog


def listen_queue(sock: socket.socket, configured_backlog: int | None = None) -> tuple[int, int | None] | None:
    """``(connections waiting to be accepted, queue limit)`` of a listening TCP socket, or None.

    The limit is None only when the kernel's table had to answer and the
    configured backlog is not known.
    """
    if sock.family not in _PROC_TABLES:
        return None
    return _from_tcp_info(sock) or _from_proc(sock, configured_backlog)


def listener_queues(listeners, configured_backlog: int | None = None) -> list[tuple[str, int, int | None]]:
    """``(listener, length, limit)`` for each of Gunicorn's listeners that can report it.

    ``listener`` is the address as Gunicorn prints it (``http://127.0.0.1:8000``).
    """
    found = []
    for listener in listeners:
        sock = getattr(listener, "sock", listener)
        try:
            queue = listen_queue(sock, configured_backlog)
            if queue is None:
                continue
            found.append((str(listener), *queue))
        except (OSError, ValueError):
            continue  # closed under us by a reload that changed the bind address
    return found
