"""Combine the deterministic severity with the LLM's suggestion: it may raise, never lower.

The verdict is never changed by the LLM (not even raised): only the severity can go up, and that
is recorded as ``llm_raised_severity`` so an operator or a later rule can act on it.
"""

from dataclasses import dataclass

from filescan_shared.severity import Severity


@dataclass(frozen=True)
class SeverityMerge:
    """The outcome of merging a deterministic severity with a suggested one."""

    final: Severity
    contradiction: bool
    raised: bool


def merge_severity(deterministic: Severity, suggested: Severity | None) -> SeverityMerge:
    """``final = max(deterministic, suggested)``; a lower suggestion is a flagged contradiction."""
    if suggested is None:
        return SeverityMerge(final=deterministic, contradiction=False, raised=False)
    return SeverityMerge(
        final=max(deterministic, suggested),
        contradiction=suggested < deterministic,
        raised=suggested > deterministic,
    )
