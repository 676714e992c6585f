"""Severities and verdicts: the ordered vocabularies shared by the scanner, the analysis step and the API."""

import enum


class Severity(enum.IntEnum):
    """How bad a finding (or a whole scan) is. Ordered: ``max()`` of severities is meaningful."""

    NONE = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        """The lower-case name used in reports and the API (``"high"``)."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> "Severity":
        """Parse a lower-case label (``"medium"``); raise ``ValueError`` for anything else."""
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"unknown severity {label!r}") from None


class Verdict(enum.StrEnum):
    """The outcome of a scan. Only ``CLEAN`` lets the read gate release an object."""

    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"
    UNSCANNABLE = "unscannable"
    ERROR = "error"
