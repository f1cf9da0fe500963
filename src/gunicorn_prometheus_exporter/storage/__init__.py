"""Where the slot blocks live and where the master reads them from.

Both backends implement the same small interface; the rest of the package
does not know which one is in use:

``open()``
    prepare the storage, or raise ``ConfigError`` with one line saying why not.
``new_block(owner)``
    the shared-memory block for ``owner`` (a slot name or ``"master"``).
``attach(snapshot)``
    called once after ``open``: ``snapshot()`` returns ``[(owner, live, entries)]``
    for the master and every slot (values read under the slot table's lock),
    for a backend that publishes elsewhere.
``leftover_owners()``
    owners whose data an earlier run left behind and that still count.
``read(owners)``
    ``(owner, live, entries)`` for aggregation, from this master's snapshot
    ``[(owner, live, entries)]`` (a backend may add other sources).
``up``, ``errors``
    whether the storage could be read and written the last time it was used;
    failed operations counted by operation name.
``close()``
    flush what is pending and let go of every resource.
"""

from __future__ import annotations

from ..config import Settings


def storage_for(settings: Settings, log):
    if settings.redis_enabled:
        from .redis import RedisStorage

        return RedisStorage(settings, log)
    from .files import FileStorage

    return FileStorage(settings, log)
