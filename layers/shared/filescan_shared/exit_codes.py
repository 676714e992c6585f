"""Exit codes of the scanner job: the contract between the scanner, Batch's retry strategy and analysis.

``template.yaml``'s job definition retries every failure except these deterministic ones
(its ``evaluateOnExit`` names the same numbers; a test keeps the two in step).
"""

from typing import Final

SCANNED: Final = 0
"""The file was scanned; the report holds the verdict, whatever it is."""

USAGE_ERROR: Final = 2
"""The job was started with bad arguments: retrying cannot help."""

UNSCANNABLE: Final = 65
"""The input cannot be scanned (missing object, access denied, unreadable): retrying cannot help.

The scanner still writes a report with the reason when it can. 65 is ``EX_DATAERR`` from sysexits.h.
"""

NOT_RETRIED: Final = frozenset({USAGE_ERROR, UNSCANNABLE})
"""Exit codes that the job definition's retry strategy must not retry."""
