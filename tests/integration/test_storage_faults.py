"""File storage under faults: a full filesystem at start and while running,
the scoreboard truncated, replaced, removed or chmod-ed while the server
runs, its directory removed before a SIGHUP reload, with the app's folded
prometheus_client totals in it.

Real faults only: a real tmpfs of 256 KiB (mounted here, so root is needed)
filled with another file, real truncate/mv/rm/chmod of the file while
requests and scrapes go on. Whatever happens the master and the workers
live on (no SIGBUS, same pids), every request is answered, the counts are
exact, gpx logs each fault once and counts it, and the log claims no
continuity that did not happen.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import Server, lines_with, per_worker, send_ok, wait_accepting, wait_for, wsgi_server

PROBE = 1  # GET / sent by each start() / wait_ready()
APP_METRICS = Path(__file__).resolve().parent / "apps" / "app_metrics.py"
# What two worker slots of one cell take (a 4 KiB header, then per slot a
# 512-byte block and a 28,480-byte cell): gpx_scoreboard.h's layout 4.
BOARD_BYTES_2x1 = 4096 + 2 * (512 + 28480)


# -- helpers -------------------------------------------------------------------

@pytest.fixture
def tmpfs(tmp_path):
    """A real 256 KiB tmpfs, unmounted at teardown. Take it before
    server_factory, so that the servers are stopped before it goes."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            # Still busy (a test failed with its server up): detach it now,
            # the kernel frees it once the last user is gone.
            subprocess.run(["umount", "-l", str(mnt)], check=True)
        mnt.rmdir()


def fill(path: Path) -> int:
    """Writes `path` until the filesystem is full; returns the bytes written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    written = 0
    try:
        while True:
            try:
                written += os.write(fd, b"\xa5" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                return written
    finally:
        os.close(fd)


def board_path(s: Server) -> Path:
    # The default instance is <hostname>:<gpx-port>.
    return Path(s.multiproc_dir) / f"gpx_{socket.gethostname()}:{s.metrics_port}.scoreboard"


def requests_in_file(board: Path) -> int:
    """The requests the file holds: the counts of every cell's status table
    (its first member: 64 entries of a 32-bit key, 4 spare bytes and a
    64-bit count), read as the header lays the blocks out."""
    data = board.read_bytes()
    magic, _version, header_size, slot_size, cell_size, workers, cores = struct.unpack_from("<8s6I", data, 0)
    assert magic == b"GPXBOARD"
    total = 0
    for w in range(workers):
        for c in range(cores):
            cell = header_size + w * (slot_size + cores * cell_size) + slot_size + c * cell_size
            total += sum(struct.unpack_from("<Q", data, cell + 16 * i + 8)[0] for i in range(64))
    return total


def storage(s: Server) -> tuple[float, float, float]:
    """(up, check errors, write errors)."""
    m = s.scrape()
    return (m.value("gunicorn_exporter_storage_up"),
            m.value("gunicorn_exporter_storage_errors_total", operation="check"),
            m.value("gunicorn_exporter_storage_errors_total", operation="write"))


def one_line(s: Server, text: str, timeout: float = 10.0) -> str:
    """Waits for exactly one log line containing `text` and returns it."""
    wait_for(lambda: lines_with(s, text), timeout, what=f"a line with {text!r}")
    found = lines_with(s, text)
    assert len(found) == 1, found
    return found[0]


def frozen(s: Server):
    """Stops the master (SIGSTOP) for the length of a `with` block: what is
    done meanwhile is seen by its next cycle all at once, never half way."""

    class Frozen:
        def __enter__(self):
            os.kill(s.master_pid, signal.SIGSTOP)

        def __exit__(self, *exc):
            os.kill(s.master_pid, signal.SIGCONT)

    return Frozen()


def assert_never_crashed(s: Server, master: int, workers: list[int]) -> None:
    out = s.output()
    assert "killed by signal" not in out, out
    assert s.proc.poll() is None
    assert s.master_pid == master
    assert sorted(s.worker_pids()) == sorted(workers)


class Load:
    """Requests and scrapes from other threads while a test breaks things."""

    def __init__(self, s: Server, clients: int = 3):
        self.s = s
        self.stop = threading.Event()
        self.answered = [0] * clients
        self.failures: list = []
        self.scrapes = 0
        self.pool = ThreadPoolExecutor(clients + 1)
        self.futures = [self.pool.submit(self._client, i) for i in range(clients)]
        self.futures.append(self.pool.submit(self._scraper))

    def _client(self, i):
        while not self.stop.is_set():
            try:
                r = requests.get(self.s.url("/"), timeout=10)
                if r.status_code == 200:
                    self.answered[i] += 1
                else:
                    self.failures.append(r.status_code)
            except requests.RequestException as exc:
                self.failures.append(exc)

    def _scraper(self):
        while not self.stop.is_set():
            try:
                r = requests.get(self.s.metrics_url, timeout=10)
                if r.status_code == 200:
                    self.scrapes += 1
                else:
                    self.failures.append(("scrape", r.status_code))
            except requests.RequestException as exc:
                self.failures.append(("scrape", exc))
            time.sleep(0.05)  # a scraper's pace, not a wait

    def wait_answered(self, count: int) -> None:
        """Waits until the clients got `count` answers in all."""
        wait_for(lambda: sum(self.answered) >= count, 30, what=f"{count} requests answered under load")

    def finish(self) -> int:
        self.stop.set()
        for f in self.futures:
            f.result()
        self.pool.shutdown()
        assert not self.failures, self.failures[:5]
        return sum(self.answered)


# -- 1. a full filesystem at start ----------------------------------------------

def test_full_filesystem_at_start_refuses_with_one_line_then_starts(build, tmpfs, server_factory):
    filler = tmpfs / "filler"
    assert fill(filler) > 0
    s = server_factory(build, "--processes", "2", multiproc_dir=str(tmpfs))
    board = board_path(s)

    rc = s.run_to_exit()
    out = s.output()
    assert rc == 1, out  # not 135: no SIGBUS
    gpx_lines = [line for line in out.splitlines() if line.startswith("gpx:")]
    assert gpx_lines == [
        f"gpx: cannot reserve {BOARD_BYTES_2x1} bytes for {board}: No space left on device (file storage keeps the "
        f"counters in this file: make room in {tmpfs}, or set gpx-multiproc-dir to another directory)"], out
    assert "spawned uWSGI worker" not in out
    assert sorted(p.name for p in tmpfs.iterdir()) == ["filler"]  # nothing half made

    # Room again: the next start makes the file and counts from zero.
    filler.unlink()
    t = server_factory(build, "--processes", "2", multiproc_dir=str(tmpfs), metrics_port=s.metrics_port).start()
    one_line(t, f"gpx: storage files, scoreboard {board} (new file: counters begin at zero)")
    assert not lines_with(t, "bad magic")
    assert board.stat().st_size == BOARD_BYTES_2x1
    send_ok(t, 6)
    t.wait_requests(6 + PROBE)
    assert storage(t) == (1, 0, 0)


def test_leftover_of_an_unfinished_file_is_replaced(build, server_factory, tmp_path):
    """What an older gpx left when a full disk killed it while making the
    file (sized with ftruncate, never written): all zeros, no counters."""
    s = server_factory(build, "--processes", "2")
    board = board_path(s)
    board.parent.mkdir(parents=True)
    with open(board, "wb") as f:
        f.truncate(BOARD_BYTES_2x1)
    s.start()
    one_line(s, f"gpx: {board} held no counters ({BOARD_BYTES_2x1} bytes, all zero: a file whose making did not "
                "finish); replaced by a new file, the counters begin at zero")
    one_line(s, "(new file: counters begin at zero)")
    send_ok(s, 4)
    s.wait_requests(4 + PROBE)
    assert board.read_bytes()[:8] == b"GPXBOARD"


# -- 2. a filesystem that fills while the server runs ------------------------------

def test_full_filesystem_while_running(build, tmpfs, server_factory):
    s = server_factory(build, "--processes", "2", multiproc_dir=str(tmpfs)).start()
    board = board_path(s)
    master, workers = s.master_pid, wait_accepting(s, 2)

    # Full under traffic: the file's space was reserved, so nothing fails.
    load = Load(s)
    load.wait_answered(20)
    assert fill(tmpfs / "filler") > 0
    time.sleep(2.5)  # the scenario: a few of the master's copies into the file (one a second), on a full disk
    answered = load.finish()
    assert answered > 50 and load.scrapes > 10
    s.wait_requests(answered + PROBE)
    assert storage(s) == (1, 0, 0)
    assert_never_crashed(s, master, workers)

    # Now the file loses its space (truncated) and the filesystem fills again
    # before gpx can write it anew: counting goes on in memory.
    with frozen(s):
        os.truncate(board, 0)
        fill(tmpfs / "filler2")
    one_line(s, f"gpx: {board} was truncated to 0 bytes by another process (it should have {BOARD_BYTES_2x1}); gpx "
                "writes it again from the counts in memory")
    one_line(s, f"gpx: cannot reserve {BOARD_BYTES_2x1} bytes for {board}: No space left on device; counting in memory "
                "(gunicorn_exporter_storage_up 0), trying again every 1 s until the file can be written")
    load = Load(s)
    wait_for(lambda: storage(s)[2] >= 3, 10, what="three failed writes")  # retried every second...
    answered += load.finish()
    assert len(lines_with(s, "cannot reserve")) == 1  # ...and logged once
    up, checks, _ = storage(s)
    assert (up, checks) == (0, 1)
    s.wait_requests(answered + PROBE)
    assert_never_crashed(s, master, workers)

    # Room again: the file is written from memory, with every count.
    (tmpfs / "filler2").unlink()
    one_line(s, f"gpx: {board} written again: it holds the counts kept in memory meanwhile")
    assert storage(s)[0] == 1
    assert board.stat().st_size == BOARD_BYTES_2x1
    send_ok(s, 3)
    answered += 3
    s.wait_requests(answered + PROBE)
    s.stop()
    assert_exit_kept_counts(s, board)

    t = server_factory(build, "--processes", "2", multiproc_dir=str(tmpfs), metrics_port=s.metrics_port).start()
    one_line(t, "(counters continue from the file)")
    t.wait_requests(answered + 2 * PROBE)


def assert_exit_kept_counts(s: Server, board: Path) -> None:
    assert lines_with(s, f"gpx: counters kept in {board} for the next start"), s.output()
    assert "killed by signal" not in s.output()


# -- 3. the file changed by another process while the server runs -----------------

def test_file_truncated_replaced_removed_chmodded_while_serving(build, server_factory):
    s = server_factory(build, "--processes", "2").start()
    board = board_path(s)
    master, workers = s.master_pid, wait_accepting(s, 2)
    load = Load(s)
    checks = 0

    def changed(line: str) -> None:
        nonlocal checks
        checks += 1
        one_line(s, line)
        wait_for(lambda: storage(s) == (1, checks, 0), 10, what=f"{checks} checks counted, storage up")
        wait_for(lambda: board.exists() and board.stat().st_size == BOARD_BYTES_2x1, 10, what="the file back")

    load.wait_answered(20)
    subprocess.run(["truncate", "-s", "0", str(board)], check=True)
    changed(f"gpx: {board} was truncated to 0 bytes by another process (it should have {BOARD_BYTES_2x1}); gpx writes "
            "it again from the counts in memory")

    other = board.parent / "other"
    other.write_text("a file that is not gpx's\n")
    subprocess.run(["mv", str(other), str(board)], check=True)
    changed(f"gpx: {board} was replaced by another file; gpx writes its counts from memory over it")

    subprocess.run(["rm", str(board)], check=True)
    changed(f"gpx: {board} was removed by another process; gpx writes it again from the counts in memory")

    subprocess.run(["chmod", "000", str(board)], check=True)
    changed(f"gpx: the mode of {board} was changed to 0000 by another process; set back to 0640")
    assert board.stat().st_mode & 0o7777 == 0o640

    load.wait_answered(sum(load.answered) + 30)  # traffic goes on after the last change
    answered = load.finish()
    assert answered > 50 and load.scrapes > 10
    s.wait_requests(answered + PROBE)
    assert_never_crashed(s, master, workers)
    assert len([line for line in s.output().splitlines()
                if "by another process" in line or "another file" in line]) == 4
    s.stop()
    assert_exit_kept_counts(s, board)

    # The file holds every count: the next start continues from it exactly.
    t = server_factory(build, "--processes", "2", multiproc_dir=s.multiproc_dir, metrics_port=s.metrics_port).start()
    t.wait_requests(answered + 2 * PROBE)


# -- 4. the directory removed, then a SIGHUP reload ---------------------------------

@pytest.mark.parametrize("when", ["reload_at_once", "noticed_first"])
def test_directory_removed_then_sighup_keeps_counts(build, server_factory, when):
    s = server_factory(build, "--processes", "2").start()
    board = board_path(s)
    old_workers = wait_accepting(s, 2)
    send_ok(s, 7)
    s.wait_requests(7 + PROBE)
    per_slot = per_worker(s.scrape())

    shutil.rmtree(s.multiproc_dir)  # what deploy scripts do
    if when == "noticed_first":
        one_line(s, "with its directory")
        wait_for(board.exists, 10, what="the file made again")
    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(s, 2, exclude=old_workers)
    s.wait_ready()

    one_line(s, f"gpx: {board} was removed by another process, with its directory; gpx writes it again from the "
                "counts in memory")
    one_line(s, f"gpx: counters kept in {board} for the next start")
    one_line(s, f"gpx: storage files, scoreboard {board} (reload: counters continue)")
    assert sum(per_slot.values()) == 7 + PROBE
    for wid, count in per_slot.items():
        continued = lines_with(s, f"takes slot {wid}, whose counts continue from")
        # A slot that had counted says so, with its count; one that had not, does not.
        assert continued == ([] if count == 0 else [continued[0]]), continued
        if count > 0:
            assert continued[0].endswith(f"whose counts continue from {int(count)} request(s)"), continued
    send_ok(s, 5)
    s.wait_requests(7 + 5 + 2 * PROBE)


def test_reload_that_cannot_keep_counts_says_so(build, tmpfs, server_factory):
    """The file cannot be written before the reload (gone, and no room for a
    new one): the log says the counts are lost, never that they continue,
    and the reloaded server serves and counts from zero."""
    s = server_factory(build, "--processes", "2", multiproc_dir=str(tmpfs)).start()
    board = board_path(s)
    old_workers = wait_accepting(s, 2)
    send_ok(s, 9)
    s.wait_requests(9 + PROBE)
    with frozen(s):
        os.truncate(board, 0)
        fill(tmpfs / "filler")
    one_line(s, "cannot reserve")

    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(s, 2, exclude=old_workers)
    s.wait_ready()

    out = s.output()
    assert lines_with(s, f"gpx: cannot reserve {BOARD_BYTES_2x1} bytes for {board}: No space left on device; the "
                         "counts of this master are not in any file, the next start cannot continue them"), out
    one_line(s, f"gpx: storage files, scoreboard {board} (reload, but no file held the previous master's counters: "
                "they begin at zero)")
    assert "counters kept" not in out
    assert "counters continue" not in out and "counts continue" not in out
    assert len(lines_with(s, "counting in memory (gunicorn_exporter_storage_up 0)")) == 2  # one per master
    s.wait_requests(PROBE)  # this master's requests only
    assert storage(s)[0] == 0

    (tmpfs / "filler").unlink()
    one_line(s, f"gpx: {board} written again: it holds the counts kept in memory meanwhile")
    assert storage(s)[0] == 1
    send_ok(s, 2)
    s.wait_requests(2 + PROBE)


@pytest.mark.parametrize("when", ["reload_at_once", "noticed_first"])
def test_directory_removed_then_sighup_keeps_the_apps_folded_totals(build, server_factory, when):
    """The app's prometheus_client counters of workers that ended live only
    in gpx's store (their files were folded and removed). The directory
    goes with the store in it, then a SIGHUP: gpx makes the directory again
    (or takes the one made meanwhile) and writes the store into it from
    memory, so that the reloaded server shows every count, and says so."""
    s = wsgi_server(server_factory, build, APP_METRICS, "--processes", "2", "--gpx-instance", "folded",
                    with_prometheus_client=True).start()
    directory = Path(s.multiproc_dir)
    store = directory / "gpx_folded.appstore"
    board = directory / "gpx_folded.scoreboard"

    def app_counts() -> tuple[float, float]:
        m = s.scrape()
        return (m.get("app_hits_total", path="/hit") or 0.0,
                m.get("app_latency_seconds_count", route="/observe") or 0.0)

    old = wait_accepting(s, 2)
    for path in ["/hit?n=2"] * 6 + ["/hit"] * 5 + ["/observe?v=0.3"] * 4:
        requests.get(s.url(path), timeout=10).raise_for_status()
    assert app_counts() == (17, 4)
    # The workers that counted end: their files are folded into the store.
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not [name for name in os.listdir(directory) for pid in old if name.endswith(f"_{pid}.db")], 15,
             what="the ended workers' files folded")
    workers = wait_accepting(s, 2, exclude=old)
    assert app_counts() == (17, 4)

    shutil.rmtree(directory)  # what deploy scripts do
    if when == "noticed_first":
        wait_for(store.exists, 10, what="the store written again")
        assert app_counts() == (17, 4)  # scrapes before the reload show it too
    s.signal(signal.SIGHUP)
    wait_for(lambda: len(lines_with(s, "gpx: serving metrics")) == 2, 30, what="metrics served again")
    wait_accepting(s, 2, exclude=workers)
    s.wait_ready()

    line = one_line(s, "the app's folded totals")
    assert line.startswith(f"gpx: {directory} "), line
    assert line in (f"gpx: {directory} was removed by another process; gpx made it again and wrote the app's folded "
                    "totals into gpx_folded.appstore from memory",
                    f"gpx: {directory} is not the directory the app's folded totals were in (another process removed "
                    "or replaced it); gpx wrote them into gpx_folded.appstore in the directory there now, from "
                    "memory"), line
    one_line(s, f"gpx: {board} was removed by another process, with its directory")
    out = s.output()
    assert "cannot fold" not in out and "cannot save" not in out and "cannot be made again" not in out, out
    assert store.exists()
    assert app_counts() == (17, 4)
    for _ in range(3):
        requests.get(s.url("/hit"), timeout=10).raise_for_status()
    wait_for(lambda: app_counts() == (20, 4), 10, what="20 hits")


# -- 5. the master killed: at most the last second is lost --------------------------

def test_master_killed_keeps_what_was_written(build, server_factory):
    """The master writes the file every second; SIGKILL gives it no last
    word. Once a write followed the requests, a new start has them all."""
    s = server_factory(build, "--processes", "2").start()
    board = board_path(s)
    wait_accepting(s, 2)
    send_ok(s, 11)
    s.wait_requests(11 + PROBE)
    wait_for(lambda: requests_in_file(board) == 11 + PROBE, 10, what="the requests written into the file")
    os.kill(s.master_pid, signal.SIGKILL)
    s.proc.wait(10)
    s.stop()  # the workers, left without their master
    assert not lines_with(s, "counters kept")

    t = server_factory(build, "--processes", "2", multiproc_dir=s.multiproc_dir, metrics_port=s.metrics_port).start()
    one_line(t, "(counters continue from the file)")
    t.wait_requests(11 + 2 * PROBE)


# -- 6. the log claims continuity only when there is some ---------------------------

def test_first_start_claims_no_continuity(build, server_factory):
    s = server_factory(build, "--processes", "2").start()
    board = board_path(s)
    wait_accepting(s, 2)
    one_line(s, f"gpx: storage files, scoreboard {board} (new file: counters begin at zero)")
    for wid in (1, 2):
        line = one_line(s, f"takes slot {wid}")
        assert line.endswith(f"takes slot {wid}"), line
    assert not [line for line in s.output().splitlines() if line.startswith("gpx:") and "continue" in line], s.output()

    # A worker that replaces one that counted continues its slot's counts.
    send_ok(s, 5)
    s.wait_requests(5 + PROBE)
    m = s.scrape()
    counts = {slot: int(v) for slot, v in per_worker(m).items()}
    victim_slot = max(counts, key=counts.get)
    victim = int(one_line(s, f"takes slot {victim_slot}").split("(pid ")[1].split(")")[0])
    os.kill(victim, signal.SIGKILL)
    one_line(s, f"takes slot {victim_slot}, whose counts continue from {counts[victim_slot]} request(s)")
    wait_accepting(s, 2)
