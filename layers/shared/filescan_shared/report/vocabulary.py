"""The report's closed vocabularies: limit names, finding categories and engine statuses.

Plain enums (no pydantic) so the scanner's analyzers can use them without paying for pydantic at
start-up. The report model (``filescan_shared.report.model``) types its fields with them, so a report
naming a limit or category that is not listed here fails validation instead of silently changing the
verdict. Severities live in ``filescan_shared.severity``.
"""

import enum


class LimitName(enum.StrEnum):
    """Every bound the scanner can hit and report in ``limits_hit``.

    The first group are the configurable ``ScanLimits`` fields (the scanner's settings derive their
    ``FILESCAN_*`` variables from the same names); the others are fixed bounds of one analyzer.
    """

    MAX_DEPTH = "max_depth"
    MAX_MEMBERS = "max_members"
    MAX_TOTAL_MEMBER_BYTES = "max_total_member_bytes"
    MAX_MEMBER_BYTES = "max_member_bytes"
    MAX_COMPRESSION_RATIO = "max_compression_ratio"
    MAX_MATCHES_PER_RULE = "max_matches_per_rule"
    OFFICE_MAX_BYTES = "office_max_bytes"
    PDF_MAX_BYTES = "pdf_max_bytes"
    FUZZY_HASH_MAX_BYTES = "fuzzy_hash_max_bytes"

    MAX_REPORT_FINDINGS = "max_report_findings"
    PE_FULL_PARSE_BYTES = "pe_full_parse_bytes"
    PDF_STREAMS = "pdf_streams"
    PDF_DECOMPRESSED_BYTES = "pdf_decompressed_bytes"
    PDF_STREAM_BYTES = "pdf_stream_bytes"
    CLAMAV_MAX_FILESIZE = "clamav_max_filesize"
    WORK_DIR_BYTES = "work_dir_bytes"
    """An analyzer that needs a local file (pefile, olevba, ClamAV) found no room in the work dir."""

    # ClamAV's own limit alerts (``--alert-exceeds-max``), as libclamav 1.x names them. One it adds
    # later is reported as CLAMAV_OTHER_LIMIT, its full name kept in the hit's ``detail``.
    CLAMAV_MAX_FILE_SIZE = "clamav:Heuristics.Limits.Exceeded.MaxFileSize"
    CLAMAV_MAX_SCAN_SIZE = "clamav:Heuristics.Limits.Exceeded.MaxScanSize"
    CLAMAV_MAX_FILES = "clamav:Heuristics.Limits.Exceeded.MaxFiles"
    CLAMAV_MAX_RECURSION = "clamav:Heuristics.Limits.Exceeded.MaxRecursion"
    CLAMAV_MAX_SCAN_TIME = "clamav:Heuristics.Limits.Exceeded.MaxScanTime"
    CLAMAV_EMAIL_HEADER_BYTES = "clamav:Heuristics.Limits.Exceeded.EmailHeaderBytes"
    CLAMAV_EMAIL_HEADERS = "clamav:Heuristics.Limits.Exceeded.EmailHeaders"
    CLAMAV_EMAIL_LINE_FOLD_CNT = "clamav:Heuristics.Limits.Exceeded.EmailLineFoldCnt"
    CLAMAV_EMAIL_MIME_ARGUMENTS = "clamav:Heuristics.Limits.Exceeded.EmailMIMEArguments"
    CLAMAV_EMAIL_MIME_PARTS = "clamav:Heuristics.Limits.Exceeded.EmailMIMEPartsPerMessage"
    CLAMAV_OTHER_LIMIT = "clamav:Heuristics.Limits.Exceeded"

    @property
    def loses_coverage(self) -> bool:
        """Whether a hit means content went unscanned (and so the scan cannot be clean).

        The per-rule match cap and the report's findings cap only drop *further matches of something
        already reported*; the fuzzy hash only ever describes the head. Every other limit loses coverage.
        """
        return self not in _NON_COVERAGE


_NON_COVERAGE = frozenset(
    {LimitName.MAX_MATCHES_PER_RULE, LimitName.MAX_REPORT_FINDINGS, LimitName.FUZZY_HASH_MAX_BYTES}
)


class FindingCategory(enum.StrEnum):
    """What kind of thing a finding is. YARA rules name theirs in ``meta: category``."""

    MALWARE = "malware"
    WEBSHELL = "webshell"
    EXPLOIT = "exploit"
    SUSPICIOUS = "suspicious"
    SUSPICIOUS_SCRIPT = "suspicious-script"
    SUSPICIOUS_EXECUTABLE = "suspicious-executable"
    EMBEDDED_EXECUTABLE = "embedded-executable"
    PACKER = "packer"
    SECRET = "secret"  # noqa: S105 - a category name, not a password
    EXECUTABLE = "executable"
    MACRO = "macro"
    PDF_ACTIVE_CONTENT = "pdf-active-content"
    ARCHIVE_ANOMALY = "archive-anomaly"
    ENCRYPTED = "encrypted"
    TYPE_MISMATCH = "type-mismatch"
    UNCATEGORISED = "uncategorised"
    """A YARA rule without a ``category`` meta."""

    @property
    def malicious(self) -> bool:
        """Whether a finding of this category at high severity or above makes the file malicious."""
        return self in _MALICIOUS


_MALICIOUS = frozenset({FindingCategory.MALWARE, FindingCategory.WEBSHELL, FindingCategory.EXPLOIT})


class EngineStatus(enum.StrEnum):
    """How an engine's (analyzer's) run ended."""

    OK = "ok"
    """Ran over everything it applies to."""
    SKIPPED = "skipped"
    """Does not apply to this content (a PDF analyzer on a zip): says nothing about safety."""
    NOT_RUN = "not_run"
    """Could not run at all (ClamAV not installed): recorded so nobody mistakes silence for clean."""
    PARTIAL = "partial"
    """Ran, but a limit stopped it before it saw everything (see ``limits_hit``)."""
    ERROR = "error"
    """Failed; ``error`` says why."""
