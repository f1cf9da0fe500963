"""File storage: each slot's block is a file in PROMETHEUS_MULTIPROC_DIR.

Files are named by slot (``slot_3.db``), not by pid, so the directory holds
at most one file per concurrent worker however often workers are replaced.
A lock file keeps two running masters from sharing one directory.
"""

from __future__ import annotations

import fcntl
import glob
import os
import re
import shutil

from ..config import ConfigError, Settings
from ..store import Block, open_file_block

_SLOT_FILE = re.compile(r"^slot_(\d+)\.db$")
LOCK_NAME = ".gunicorn-exporter.lock"
# A master started by USR2 (binary upgrade) runs beside the master that
# started it, which still holds the directory: it keeps its own files here.
UPGRADE_PREFIX = "upgrade-"


class FileStorage:
    name = "files"

    def __init__(self, settings: Settings, log):
        self.directory = settings.multiproc_dir
        self.cleanup = settings.cleanup_db_files
        self.log = log
        self._lock_fd: int | None = None
        self.up = True
        self.errors: dict[str, int] = {}  # failed operations by name, for storage_errors_total

    def attach(self, snapshot) -> None:
        """File blocks are read where they are; nothing to publish."""

    def open(self) -> None:
        directory = self.directory
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"PROMETHEUS_MULTIPROC_DIR={directory!r} is not valid: expected a directory that can be "
                f"created ({exc.strerror})"
            ) from None
        if not os.path.isdir(directory) or not os.access(directory, os.W_OK | os.X_OK):
            raise ConfigError(f"PROMETHEUS_MULTIPROC_DIR={directory!r} is not valid: expected a writable directory")
        fd, holder = self._try_lock(directory)
        if fd is None and holder == os.environ.get("GUNICORN_PID"):
            directory = self.directory = os.path.join(directory, f"{UPGRADE_PREFIX}{os.getpid()}")
            os.makedirs(directory, exist_ok=True)
            self.log.info("Upgraded master: metrics kept in %s until the old master exits", directory)
            fd, holder = self._try_lock(directory)
        if fd is None:
            raise ConfigError(
                f"PROMETHEUS_MULTIPROC_DIR={self.directory!r} is not valid: another running Gunicorn master "
                f"(pid {holder}) uses it; expected a directory of this server's own"
            )
        self._lock_fd = fd
        self._remove_finished_upgrades()
        if self.cleanup:
            removed = 0
            for path in glob.glob(os.path.join(directory, "*.db")):
                os.unlink(path)
                removed += 1
            if removed:
                self.log.info("Removed %d metric files left in %s by an earlier run", removed, directory)

    @staticmethod
    def _try_lock(directory: str) -> tuple[int | None, str]:
        """Lock ``directory`` for this master: (fd, "") or (None, pid of the holder)."""
        fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            return None, holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        return fd, ""

    def _remove_finished_upgrades(self) -> None:
        """Upgrade directories whose master is gone hold data nobody reads any more."""
        for path in glob.glob(os.path.join(self.directory, UPGRADE_PREFIX + "*")):
            if not os.path.isdir(path):
                continue
            fd, _ = self._try_lock(path)
            if fd is not None:
                shutil.rmtree(path, ignore_errors=True)
                os.close(fd)

    def new_block(self, owner: str) -> Block:
        filename = "master.db" if owner == "master" else f"slot_{owner}.db"
        return open_file_block(os.path.join(self.directory, filename), owner)

    def leftover_owners(self) -> list[str]:
        owners = []
        for name in os.listdir(self.directory):
            match = _SLOT_FILE.match(name)
            if match:
                owners.append(match.group(1))
        return sorted(owners, key=int)

    def read(self, owners):
        return owners

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
