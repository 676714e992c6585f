"""Assemble the typed report (``filescan_shared.report.model.Report``) from a scan outcome.

Every string that may come from the file is escaped and truncated here, before the model checks the
bounds. Imported on first use (``report.build_report``): it loads pydantic, which the scanner keeps off
its start-up path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from filescan_scanner.analyzers import base
from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus
from filescan_scanner.engine import ScanOutcome
from filescan_scanner.report import cpu_seconds, peak_rss_bytes, scanner_version, utc_now
from filescan_scanner.text import escaped_once, safe_excerpt
from filescan_shared.report import SCHEMA_VERSION
from filescan_shared.report.model import (
    ArchiveSummary,
    Container,
    Engine,
    FileFacts,
    Finding,
    LimitHit,
    Location,
    Member,
    Report,
    ReportBody,
    ScannerInfo,
    Stats,
    Uninspected,
)
from filescan_shared.report.verdict import decide_verdict
from filescan_shared.report.vocabulary import LimitName

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


def _location(location: base.Location) -> Location:
    return Location(
        archive_path=[safe_excerpt(p, 1000) for p in location.archive_path], offset=location.offset
    )


def _finding(f: base.Finding) -> Finding:
    return Finding(
        engine=f.engine,
        rule_id=escaped_once(f.rule_id, 300),
        category=f.category,
        severity=f.severity,
        title=escaped_once(f.title, 500),
        location=_location(f.location),
        evidence=None if f.evidence is None else escaped_once(f.evidence, 500),
    )


def _limit(hit: base.LimitHit, engine: str | None) -> LimitHit:
    return LimitHit(
        engine=engine,
        limit=hit.limit,
        value=hit.value,
        detail=safe_excerpt(hit.detail, 1000),
        location=_location(hit.location),
    )


def _engine(runs: list[AnalyzerResult]) -> Engine:
    """One engine's entry from its runs over every target, in scan order."""
    version, rules_version, seconds = runs[0].version, runs[0].rules_version, 0.0
    for r in runs:
        if version in {"unknown", "n/a"}:
            version = r.version
        rules_version = rules_version or r.rules_version
        seconds = round(seconds + r.seconds, 4)
    error = next((r.error for r in runs if r.error), None)
    return Engine(
        name=runs[0].name,
        version=version,
        rules_version=rules_version,
        status=max((r.status for r in runs), key=_STATUS_RANK.__getitem__),
        seconds=seconds,
        targets=len(runs),
        error=None if error is None else safe_excerpt(error, 2000),
    )


def _engines(results: Iterable[AnalyzerResult]) -> list[Engine]:
    by_name: dict[str, list[AnalyzerResult]] = {}
    for r in results:
        by_name.setdefault(r.name, []).append(r)
    return [_engine(runs) for runs in by_name.values()]


def _merged_facts(results: Iterable[AnalyzerResult]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for r in results:
        facts.update(r.facts)
    return facts


def _file_facts(results: list[AnalyzerResult], size: int) -> FileFacts:
    facts = _merged_facts(results)
    return FileFacts(
        size=size,
        md5=facts.get("md5"),
        sha1=facts.get("sha1"),
        sha256=facts.get("sha256"),
        tlsh=facts.get("tlsh"),
        tlsh_bytes=facts.get("tlsh_bytes", 0),
        mime=facts.get("mime"),
        magic=facts.get("magic"),
        detected_kind=facts.get("detected_kind"),
        extension=facts.get("extension"),
        extension_mismatch=bool(facts.get("extension_mismatch", False)),
        entropy=facts.get("entropy", {}),
    )


def _archive(outcome: ScanOutcome) -> ArchiveSummary | None:
    containers = [
        Container(archive_path=_location(t.target.location).archive_path, **r.facts)
        for t in outcome.targets
        for r in t.results
        if r.name == "archive" and r.facts
    ]
    members = outcome.targets[1:]
    if not containers and not members:
        return None
    listed = []
    for member in members[:MAX_MEMBERS]:
        facts = _merged_facts(member.results)
        listed.append(
            Member(
                archive_path=_location(member.target.location).archive_path,
                size=member.target.size,
                sha256=facts.get("sha256"),
                mime=facts.get("mime"),
                findings=sum(len(r.findings) for r in member.results),
            )
        )
    return ArchiveSummary(
        members_scanned=len(members),
        member_bytes=sum(m.target.size for m in members),
        max_depth_reached=max((m.target.depth for m in members), default=0),
        containers=containers[:MAX_MEMBERS],
        members=listed,
        members_capped=len(members) > MAX_MEMBERS,
    )


def assemble_report(
    *,
    scan_id: str | None,
    identity: dict[str, Any],
    outcome: ScanOutcome | None,
    started_at: dt.datetime,
    rules_version: str | None,
    unscannable_reasons: list[str] | None = None,
    error: str | None = None,
) -> Report:
    """The report, verdict included. ``outcome`` is None when the input was unreadable."""
    finished = utc_now()
    findings: list[Finding] = []
    limits: list[LimitHit] = []
    uninspected: list[Uninspected] = []
    results: list[AnalyzerResult] = []
    file_facts: FileFacts | None = None
    archive = None
    scanned_bytes = 0
    scan_seconds = 0.0
    if outcome is not None:
        top = outcome.targets[0]
        file_facts = _file_facts(top.results, top.target.size)
        for target in outcome.targets:
            where = _location(target.target.location)
            for r in target.results:
                results.append(r)
                findings.extend(_finding(f) for f in r.findings)
                limits.extend(_limit(h, r.name) for h in r.limits_hit)
                uninspected.extend(
                    Uninspected(engine=r.name, reason=safe_excerpt(u, 1000), location=where)
                    for u in r.uninspectable
                )
        limits.extend(_limit(h, "engine") for h in outcome.limits_hit)
        archive = _archive(outcome)
        scanned_bytes = outcome.bytes_scanned
        scan_seconds = outcome.seconds
    findings.sort(key=lambda f: f.severity, reverse=True)
    total_findings = len(findings)
    if total_findings > MAX_FINDINGS:
        findings = findings[:MAX_FINDINGS]
        detail = f"{total_findings} findings, most severe kept"
        limits.append(_limit(base.LimitHit(LimitName.MAX_REPORT_FINDINGS, MAX_FINDINGS, detail), None))
    elapsed = (finished - started_at).total_seconds()
    body = ReportBody(
        schema_version=SCHEMA_VERSION,
        scan_id=scan_id,
        object=identity,  # the CLI's identity dict: validated into S3Object or LocalObject here
        file=file_facts,
        engines=_engines(results),
        findings=findings,
        archive=archive,
        limits_hit=limits[:MAX_LIMITS],
        uninspected=uninspected,
        unscannable_reasons=[safe_excerpt(r, 1000) for r in unscannable_reasons or []],
        stats=Stats(
            bytes=scanned_bytes,
            seconds=round(elapsed, 4),
            scan_seconds=round(scan_seconds, 4),
            download_seconds=None,  # the object is read in place (remote.py): no download phase
            mib_per_s=round(scanned_bytes / 1024**2 / scan_seconds, 2) if scan_seconds > 0 else None,
            peak_rss_bytes=peak_rss_bytes(),
            cpu_seconds=round(cpu_seconds(), 3),
            findings_total=total_findings,
        ),
        started_at=started_at.isoformat(),
        finished_at=finished.isoformat(),
        scanner=ScannerInfo(version=scanner_version(), rules_version=rules_version, yara_x_version=_yara_x()),
        error=None if error is None else safe_excerpt(error, 2000),
    )
    return Report.with_verdict(body, decide_verdict(body).section())


def _yara_x() -> str | None:
    from importlib.metadata import PackageNotFoundError  # noqa: PLC0415

    from filescan_scanner.analyzers.yara_rules import yara_x_version  # noqa: PLC0415

    try:
        return yara_x_version()
    except PackageNotFoundError:
        return None
