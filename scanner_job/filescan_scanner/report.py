"""The report's entry point for the CLI and the facts it records about the scanner itself."""

from __future__ import annotations

import datetime as dt
import functools
import os
import resource
import sys
from pathlib import Path
from typing import Any


@functools.cache
def scanner_version() -> str:
    """The installed filescan version."""
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415 - ~10 ms: not at start-up
    from importlib.metadata import version as dist_version  # noqa: PLC0415

    try:
        return dist_version("filescan")
    except PackageNotFoundError:
        return "0+unknown"


def peak_rss_bytes() -> int:
    """Peak resident set size of this process's own image.

    Linux: ``VmHWM`` of ``/proc/self/status`` (the high-water mark of this program's memory).
    ``ru_maxrss`` survives ``execve``: started by a big parent (the local stack's process, which
    Python's ``subprocess`` forks or vforks), the scanner would report the parent's peak as its own.
    Elsewhere, ``ru_maxrss`` (KiB on Linux, bytes on macOS).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and the engines it ran (ClamAV...), in seconds.

    With wall time and the job's vCPUs it tells right-sizing how busy the requested CPUs were.
    """
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def build_report(**parts: Any) -> dict[str, Any]:
    """The report document (verdict included) for ``assemble.assemble_report(**parts)``.

    The typed report is assembled and validated by the report model, then returned as plain JSON
    data. The assembler (and pydantic with it) is imported here, on first use, not at start-up.
    """
    from filescan_scanner.assemble import assemble_report  # noqa: PLC0415 - see above

    return assemble_report(**parts).document()
