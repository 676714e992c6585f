"""The local demo: start the stack, upload the samples, wait, print the results from the API, stop."""

from __future__ import annotations

import contextlib
import io
import sys
import time
import uuid
from typing import Any, TextIO

from filescan_local.observe import TERMINAL, Upload, api_get, upload
from filescan_local.samples import demo_samples
from filescan_local.stack import LocalStack

PROBE_BYTES = 1024


def wait_via_api(
    api_url: str, uploads: list[Upload], *, timeout: float, token: str | None = None
) -> dict[str, tuple[int, Any, float]]:
    """Poll ``GET /scans/{id}`` until every scan is terminal there: (status, body, seconds) each.

    Scans the API never shows as terminal within ``timeout`` keep their last answer (e.g. a 500).
    """
    deadline = time.monotonic() + timeout
    results: dict[str, tuple[int, Any, float]] = {}
    done: set[str] = set()
    while len(done) < len(uploads) and time.monotonic() < deadline:
        for item in uploads:
            if item.scan_id in done:
                continue
            status, body = api_get(api_url, f"/scans/{item.scan_id}", token)
            results[item.scan_id] = (status, body, time.monotonic() - item.uploaded_at)
            if status == 200 and isinstance(body, dict) and body.get("status") in TERMINAL:
                done.add(item.scan_id)
        time.sleep(0.05)
    return results


def _top_finding(body: dict[str, Any]) -> str:
    findings = body.get("top_findings") or []
    if not findings or not isinstance(findings[0], dict):
        return "-"
    first = findings[0]
    return f"{first.get('rule_id', '?')}: {first.get('title', '')}"[:60]


def engine_rows(body: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(engine, outcome, verdict, severity, top finding) per engine of a scan, from its ``engines``.

    ``engines`` is the scan record's map of engine name -> run (``records.EngineRun``), or a list of
    rows naming their ``engine``; a scan with one engine (or none listed) has no rows: its combined
    row says it all.
    """
    engines = body.get("engines") or {}
    if isinstance(engines, list):
        engines = {str(row.get("engine") or row.get("name")): row for row in engines if isinstance(row, dict)}
    if not isinstance(engines, dict) or len(engines) < 2:
        return []
    rows = []
    for name, value in sorted(engines.items()):
        run = value if isinstance(value, dict) else {}
        outcome = run.get("outcome") or run.get("status") or run.get("state") or "-"
        rows.append(
            (
                str(name),
                str(outcome),
                str(run.get("verdict") or "-"),
                str(run.get("severity") or "-"),
                _top_finding(run),
            )
        )
    return rows


def run_demo(stack: LocalStack, out: TextIO, *, timeout: float = 120) -> int:
    """Upload the samples to a running stack and print the results table; 0 when every scan ended."""
    assert stack.topology is not None and stack.api is not None
    s3 = stack.client("s3")
    bucket = stack.topology.bucket("UploadsBucket")
    prefix = f"{stack.topology.template.parameters['ScanPrefix']}demo/{uuid.uuid4().hex[:8]}/"
    token = stack.config.api_token

    probe = upload(
        s3, bucket, f"{prefix}probe-1KiB.txt", b"filescan latency probe\n".ljust(PROBE_BYTES, b".")
    )
    probe_result = wait_via_api(stack.api.url, [probe], timeout=timeout, token=token)
    samples = demo_samples()
    uploads = [upload(s3, bucket, f"{prefix}{sample.name}", sample.body) for sample in samples]
    results = wait_via_api(stack.api.url, uploads, timeout=timeout, token=token)

    rows = [("key", "engine", "status", "verdict", "severity", "expected", "top finding")]
    ok = True
    for sample, item in zip(samples, uploads, strict=True):
        status, body, _ = results.get(item.scan_id, (0, {}, 0.0))
        if status != 200 or not isinstance(body, dict):
            expected = "/".join(sorted(sample.expected))
            rows.append((item.key, "all", f"API {status or 'timeout'}", "-", "-", expected, "-"))
            ok = False
            continue
        verdict = str(body.get("verdict") or "-")
        ok = ok and verdict in sample.expected
        rows.append(
            (
                item.key,
                "all",
                str(body.get("status")),
                verdict,
                str(body.get("severity") or "-"),
                "/".join(sorted(sample.expected)),
                _top_finding(body),
            )
        )
        for engine, outcome, engine_verdict, severity, top in engine_rows(body):
            rows.append(("", engine, outcome, engine_verdict, severity, "", top))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )
        if index == 0:
            out.write("  ".join("-" * width for width in widths) + "\n")
    status, body, seconds = probe_result.get(probe.scan_id, (0, None, 0.0))
    if status == 200 and isinstance(body, dict) and body.get("status") == "COMPLETE":
        out.write(f"\nupload -> COMPLETE visible in the API, 1 KiB file: {seconds:.2f} s\n")
    else:
        out.write(f"\nthe 1 KiB probe never showed COMPLETE in the API (last answer: HTTP {status})\n")
    out.write(f"results fetched from {stack.api.url}/scans/{{scan_id}}\n")
    return 0 if ok and len(results) == len(uploads) else 1


def demo(stack: LocalStack, *, out: TextIO | None = None) -> int:
    """Run the whole demo with ``stack`` (started and stopped here).

    The handlers' own output (Powertools logs and metrics) is kept out of the table: it is written to
    ``functions.log`` in the data directory when one is configured, else dropped.
    """
    real_out = out or sys.stdout
    real_out.write("starting the local stack (moto, Batch, dispatcher, API on 127.0.0.1)...\n")
    real_out.flush()
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        try:
            stack.start()
            mode = "containers" if stack.batch and stack.batch.runs_containers else "host subprocesses"
            url = stack.api.url if stack.api else "?"
            parameters = stack.topology.template.parameters if stack.topology else {}
            engines = ",".join(parameters.get("EnabledEngines") or ["filescan"])
            real_out.write(f"API {url}; engines {engines}; Batch jobs run as {mode}; uploading...\n\n")
            real_out.flush()
            code = run_demo(stack, real_out)
        finally:
            stack.stop()
    if stack.config.data_dir is not None:
        (stack.config.data_dir / "functions.log").write_text(captured.getvalue())
    real_out.write("local stack stopped.\n")
    return code
