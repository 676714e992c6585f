"""Scan states and the one monotonic transition rule.

A scan moves ``QUEUED < SUBMITTED < PENDING < RUNNABLE < STARTING < RUNNING < ANALYZING`` and ends in a
terminal state (``COMPLETE``, ``FAILED`` or ``SKIPPED``). Events arrive twice and out of order, so an
update is applied only if it moves the scan forward; everything else is a no-op. The DynamoDB
repository enforces the same rule atomically with ``status_rank`` in a condition expression.
"""

import enum


class ScanState(enum.StrEnum):
    """Where a scan is. The order of declaration is the order of progress."""

    QUEUED = "QUEUED"
    SUBMITTED = "SUBMITTED"
    PENDING = "PENDING"
    RUNNABLE = "RUNNABLE"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    ANALYZING = "ANALYZING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    @property
    def rank(self) -> int:
        """Position in the progress order; all terminal states share the highest rank."""
        return _RANKS[self]

    @property
    def terminal(self) -> bool:
        """Whether nothing may change this state any more."""
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({ScanState.COMPLETE, ScanState.FAILED, ScanState.SKIPPED})
BATCH_PROGRESS_STATES = frozenset(
    {ScanState.SUBMITTED, ScanState.PENDING, ScanState.RUNNABLE, ScanState.STARTING, ScanState.RUNNING}
)
"""States a "Batch Job State Change" event can move a scan to (SUCCEEDED/FAILED go through analysis)."""

_ORDER = (
    ScanState.QUEUED,
    ScanState.SUBMITTED,
    ScanState.PENDING,
    ScanState.RUNNABLE,
    ScanState.STARTING,
    ScanState.RUNNING,
    ScanState.ANALYZING,
)
_RANKS = {state: rank for rank, state in enumerate(_ORDER)} | dict.fromkeys(TERMINAL_STATES, len(_ORDER))


def is_forward(current: ScanState | None, proposed: ScanState) -> bool:
    """Whether moving from ``current`` to ``proposed`` is progress (``None``: no record yet).

    Terminal states never change, equal states are duplicates, and lower ranks are late events.
    """
    if current is None:
        return True
    if current.terminal:
        return False
    return proposed.rank > current.rank
