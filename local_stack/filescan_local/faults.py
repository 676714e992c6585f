"""Test faults the local Batch service (and only it) honours: crashes, Spot interruptions, exit codes.

A fault is matched against a job's ``key`` parameter (or its name) by glob, registered with
``BatchService.inject_fault`` or ``up --fault``; or it comes from the job's container environment
variable ``FILESCAN_LOCAL_FAULT`` (a job-definition environment entry or a container override).
Production code never reads either.

Syntax: ``crash[:N]`` exits 1, ``exit=CODE[:N]`` exits CODE, ``spot[:N]`` is interrupted like a
Fargate Spot task (status reason "Your Spot Task was interrupted.", no exit code); ``:N`` limits the
fault to the first N attempts (default: every attempt). ``slow=SECONDS`` waits before running the
real command (to fill capacity in tests).
"""

from __future__ import annotations

import dataclasses

FAULT_VARIABLE = "FILESCAN_LOCAL_FAULT"
_MODES = frozenset({"crash", "exit", "spot", "slow"})


@dataclasses.dataclass(frozen=True)
class Fault:
    """One injected fault."""

    pattern: str
    mode: str
    code: int = 1
    attempts: int | None = None

    def applies(self, attempt_number: int) -> bool:
        """Whether the fault hits attempt ``attempt_number`` (1-based)."""
        return self.attempts is None or attempt_number <= self.attempts


def parse_fault(spec: str, *, pattern: str) -> Fault:
    """Parse ``crash[:N]``, ``exit=CODE[:N]`` or ``spot[:N]`` for jobs matching ``pattern``."""
    body, _, count = spec.strip().partition(":")
    mode, _, code = body.partition("=")
    needs_code = mode in {"exit", "slow"}
    if mode not in _MODES or (needs_code and not code.isdigit()) or (count and not count.isdigit()):
        raise ValueError(f"bad fault {spec!r}: use crash[:N], exit=CODE[:N], spot[:N] or slow=SECONDS[:N]")
    return Fault(
        pattern=pattern,
        mode=mode,
        code=int(code) if code else 1,
        attempts=int(count) if count else None,
    )


def parse_fault_option(option: str) -> Fault:
    """``GLOB=SPEC`` from the command line (e.g. ``uploads/flaky/*=crash:1``)."""
    pattern, separator, spec = option.partition("=")
    if not separator:
        raise ValueError(f"bad --fault {option!r}: use GLOB=SPEC")
    return parse_fault(spec, pattern=pattern)
