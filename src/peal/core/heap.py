"""The garbage collector in a long-lived server process."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Put every object alive now out of the collector's reach (`gc.freeze`).

    A server's start-up leaves a few hundred thousand long-lived objects (modules, the app, its
    routes, models and compiled schemas). Each full collection walked them all, with the event
    loop stopped: up to ~150 ms a time on the 2-core bench machine, every second or so under load,
    the tail of every latency figure. Frozen, they are skipped; what requests allocate is
    still collected as before. Call it once start-up is done, in a process that stays up: what
    is frozen is never freed, so a test process that builds many apps must not.
    """
    gc.collect()  # start-up's own garbage is freed, not frozen
    gc.freeze()
