"""Keep the sensor's memory out of core dumps and away from other processes of the same user.

The sensor holds frames and per-person features in memory for milliseconds. A crash with core dumps
enabled would write them to disk (systemd-coredump, apport, ``core`` files), and a dumpable process can
be read by any process of the same user (ptrace, ``/proc/<pid>/mem``). So the service, first thing,
sets its core-file limit to 0 (soft and hard, so it cannot be raised again) and, on Linux, clears its
dumpable flag (``prctl(PR_SET_DUMPABLE, 0)``), which also stops piped core handlers and same-user
ptrace. Swap must be off or encrypted on the host (sensors/README.md): this module cannot see to that.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

PR_SET_DUMPABLE = 4  # <linux/prctl.h>


def disable_core_dumps() -> None:
    """Core-file limit (0, 0) and, on Linux, a non-dumpable process; raises OSError if Linux refuses."""
    if sys.platform == "win32":
        log.info("core dumps: no core-file limit or dumpable flag on Windows; configure Windows Error Reporting")
        return
    import resource  # POSIX only

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not sys.platform.startswith("linux"):
        log.info("core-file limit set to 0; prctl(PR_SET_DUMPABLE) does not exist on %s", sys.platform)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, "prctl(PR_SET_DUMPABLE, 0) failed")
    log.info("core dumps disabled: core-file limit 0, process not dumpable")
