"""Complete, valid report documents and models for tests that care about only a few of their parts."""

from __future__ import annotations

from typing import Any

from filescan_shared.report.model import Report, ReportBody
from filescan_shared.report.verdict import decide_verdict

NOWHERE = {"archive_path": []}
WHEN = "2026-12-01T00:00:00+00:00"


def report_document(**parts: Any) -> dict[str, Any]:
    """A report document without its verdict; ``parts`` replace whole sections.

    Engines, findings, limit hits, uninspected items and file facts given in part are completed
    with neutral values for the fields the test did not name.
    """
    doc: dict[str, Any] = {
        "schema_version": "1.0",
        "scan_id": "s",
        "object": {"source": "local", "path": "f", "display_name": "f"},
        "file": {"size": 1},
        "engines": [],
        "findings": [],
        "archive": None,
        "limits_hit": [],
        "uninspected": [],
        "unscannable_reasons": [],
        "stats": {"bytes": 0, "seconds": 0.0, "mib_per_s": None, "peak_rss_bytes": 0},
        "started_at": WHEN,
        "finished_at": WHEN,
        "scanner": {"version": "0", "rules_version": None},
        "error": None,
        **parts,
    }
    if doc["file"] is not None:
        blank = dict.fromkeys(("md5", "sha1", "sha256", "mime", "magic"))
        doc["file"] = {**blank, "extension_mismatch": False, **doc["file"]}
    doc["engines"] = [{"version": "1", "seconds": 0.0, "targets": 1, **e} for e in doc["engines"]]
    doc["findings"] = [
        {"engine": "yara-x", "rule_id": "r", "title": "t", "location": NOWHERE, **f} for f in doc["findings"]
    ]
    doc["limits_hit"] = [{"value": 1, "detail": "", "location": NOWHERE, **h} for h in doc["limits_hit"]]
    doc["uninspected"] = [{"engine": "archive", "location": NOWHERE, **u} for u in doc["uninspected"]]
    return doc


def report_body(**parts: Any) -> ReportBody:
    """``report_document(**parts)`` as a validated ``ReportBody``."""
    return ReportBody.model_validate(report_document(**parts))


def report(**parts: Any) -> Report:
    """A complete ``Report``: ``report_body(**parts)`` with its verdict."""
    body = report_body(**parts)
    return Report.with_verdict(body, decide_verdict(body).section())
