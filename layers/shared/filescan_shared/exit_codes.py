"""Exit codes of the scanner job: the contract between the scanner, Batch's retry strategy and analysis.

The only place the numbers live. ``template.yaml``'s job definition retries every failure except the
deterministic ones in ``NOT_RETRIED`` (its ``evaluateOnExit`` names the same numbers; a test keeps the
two in step); analysis reads ``UNSCANNABLE`` as "completed, verdict unscannable".
"""

import enum


class ExitCode(enum.IntEnum):
    """How a scanner run ended."""

    SCANNED = 0
    """The file was scanned; the report holds the verdict, whatever it is."""

    TRANSIENT = 1
    """A failure that may pass (throttling, network, 5xx, out of memory...): Batch retries it."""

    USAGE_ERROR = 2
    """The job was started with bad arguments (or a malformed manifest): retrying cannot help."""

    UNSCANNABLE = 65
    """The input cannot be scanned (missing object, access denied, unreadable): retrying cannot help.

    The scanner still writes a report with the reason when it can. 65 is ``EX_DATAERR`` from sysexits.h.
    """

    CONFIG_ERROR = 78
    """``EX_CONFIG``: the scanner's own configuration is broken (extra rules do not compile, a malformed
    environment variable). Not an input problem, so not in ``NOT_RETRIED``: Batch retries it and the
    job fails with this message."""


NOT_RETRIED = frozenset({ExitCode.USAGE_ERROR, ExitCode.UNSCANNABLE})
"""Exit codes that the job definition's retry strategy must not retry."""
