"""Assemble the JSON report from a scan outcome (or from a failure to read the input)."""

from __future__ import annotations

import datetime as dt
import functools
import resource
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, Finding, LimitHit, Location
from filescan_scanner.engine import ScanOutcome
from filescan_scanner.text import escaped_once, safe_excerpt
from filescan_shared.report import SCHEMA_VERSION
from filescan_shared.report.verdict import decide_verdict

MAX_FINDINGS = 1000
MAX_MEMBERS = 500
MAX_LIMITS = 500
_STATUS_RANK = {
    AnalyzerStatus.ERROR: 4,
    AnalyzerStatus.PARTIAL: 3,
    AnalyzerStatus.NOT_RUN: 2,
    AnalyzerStatus.OK: 1,
    AnalyzerStatus.SKIPPED: 0,
}


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


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def _location(location: Location) -> dict[str, Any]:
    return {"archive_path": [safe_excerpt(p, 1000) for p in location.archive_path], "offset": location.offset}


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "engine": f.engine,
        "rule_id": escaped_once(f.rule_id, 300),
        "category": escaped_once(f.category, 100),
        "severity": f.severity.label,
        "title": escaped_once(f.title, 500),
        "location": _location(f.location),
        "evidence": None if f.evidence is None else escaped_once(f.evidence, 500),
    }


def _limit(hit: LimitHit, engine: str | None) -> dict[str, Any]:
    return {
        "engine": engine,
        "limit": hit.limit,
        "value": hit.value,
        "detail": safe_excerpt(hit.detail, 1000),
        "location": _location(hit.location),
    }


def _engines(results: Iterable[AnalyzerResult]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for r in results:
        entry = merged.setdefault(
            r.name,
            {
                "name": r.name,
                "version": r.version,
                "rules_version": r.rules_version,
                "status": r.status.value,
                "seconds": 0.0,
                "targets": 0,
                "error": None,
            },
        )
        if entry["version"] in {"unknown", "n/a"}:
            entry["version"] = r.version
        entry["rules_version"] = entry["rules_version"] or r.rules_version
        if _STATUS_RANK[r.status] > _STATUS_RANK[AnalyzerStatus(entry["status"])]:
            entry["status"] = r.status.value
        entry["seconds"] = round(entry["seconds"] + r.seconds, 4)
        entry["targets"] += 1
        if r.error and not entry["error"]:
            entry["error"] = safe_excerpt(r.error, 2000)
    return list(merged.values())


def _file_facts(results: list[AnalyzerResult], size: int) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for r in results:
        facts.update(r.facts)
    return {
        "size": size,
        "md5": facts.get("md5"),
        "sha1": facts.get("sha1"),
        "sha256": facts.get("sha256"),
        "tlsh": facts.get("tlsh"),
        "tlsh_bytes": facts.get("tlsh_bytes", 0),
        "mime": facts.get("mime"),
        "magic": facts.get("magic"),
        "detected_kind": facts.get("detected_kind"),
        "extension": facts.get("extension"),
        "extension_mismatch": bool(facts.get("extension_mismatch", False)),
        "entropy": facts.get("entropy", {}),
    }


def _archive(outcome: ScanOutcome) -> dict[str, Any] | None:
    containers = [
        {"archive_path": _location(t.target.location)["archive_path"], **r.facts}
        for t in outcome.targets
        for r in t.results
        if r.name == "archive" and r.facts
    ]
    members = outcome.targets[1:]
    if not containers and not members:
        return None
    listed = []
    for member in members[:MAX_MEMBERS]:
        facts: dict[str, Any] = {}
        for r in member.results:
            facts.update(r.facts)
        listed.append(
            {
                "archive_path": _location(member.target.location)["archive_path"],
                "size": member.target.size,
                "sha256": facts.get("sha256"),
                "mime": facts.get("mime"),
                "findings": sum(len(r.findings) for r in member.results),
            }
        )
    return {
        "members_scanned": len(members),
        "member_bytes": sum(m.target.size for m in members),
        "max_depth_reached": max((m.target.depth for m in members), default=0),
        "containers": containers[:MAX_MEMBERS],
        "members": listed,
        "members_capped": len(members) > MAX_MEMBERS,
    }


def build_report(
    *,
    scan_id: str | None,
    identity: dict[str, Any],
    outcome: ScanOutcome | None,
    started_at: dt.datetime,
    rules_version: str | None,
    unscannable_reasons: list[str] | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """Build the report document, verdict included. ``outcome`` is None when the input was unreadable."""
    finished = utc_now()
    findings: list[dict[str, Any]] = []
    limits: list[dict[str, Any]] = []
    uninspected: list[dict[str, Any]] = []
    results: list[AnalyzerResult] = []
    file_facts: dict[str, Any] | None = None
    archive = None
    scanned_bytes = 0
    scan_seconds = 0.0
    if outcome is not None:
        top = outcome.targets[0]
        file_facts = _file_facts(top.results, top.target.size)
        for target in outcome.targets:
            for r in target.results:
                results.append(r)
                findings.extend(_finding(f) for f in r.findings)
                limits.extend(_limit(h, r.name) for h in r.limits_hit)
                uninspected.extend(
                    {
                        "engine": r.name,
                        "reason": safe_excerpt(u, 1000),
                        "location": _location(target.target.location),
                    }
                    for u in r.uninspectable
                )
        limits.extend(_limit(h, "engine") for h in outcome.limits_hit)
        archive = _archive(outcome)
        scanned_bytes = outcome.bytes_scanned
        scan_seconds = outcome.seconds
    order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4, "none": 5}
    findings.sort(key=lambda f: order[f["severity"]])
    total_findings = len(findings)
    if total_findings > MAX_FINDINGS:
        findings = findings[:MAX_FINDINGS]
        limits.append(
            _limit(
                LimitHit("max_report_findings", MAX_FINDINGS, f"{total_findings} findings, most severe kept"),
                None,
            )
        )
    if len(limits) > MAX_LIMITS:
        limits = limits[:MAX_LIMITS]
    elapsed = (finished - started_at).total_seconds()
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "scan_id": scan_id,
        "object": identity,
        "file": file_facts,
        "engines": _engines(results),
        "findings": findings,
        "archive": archive,
        "limits_hit": limits,
        "uninspected": uninspected,
        "unscannable_reasons": [safe_excerpt(r, 1000) for r in unscannable_reasons or []],
        "stats": {
            "bytes": scanned_bytes,
            "seconds": round(elapsed, 4),
            "scan_seconds": round(scan_seconds, 4),
            "download_seconds": None,  # the object is read in place (remote.py): no download phase
            "mib_per_s": round(scanned_bytes / 1024**2 / scan_seconds, 2) if scan_seconds > 0 else None,
            "peak_rss_bytes": peak_rss_bytes(),
            "findings_total": total_findings,
        },
        "started_at": started_at.isoformat(),
        "finished_at": finished.isoformat(),
        "scanner": {
            "version": scanner_version(),
            "rules_version": rules_version,
            "yara_x_version": _yara_x(),
        },
        "error": None if error is None else safe_excerpt(error, 2000),
    }
    report["verdict"] = decide_verdict(report).as_dict()
    return report


def _yara_x() -> str | None:
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415

    from filescan_scanner.analyzers.yara_rules import yara_x_version  # noqa: PLC0415

    try:
        return yara_x_version()
    except PackageNotFoundError:
        return None
