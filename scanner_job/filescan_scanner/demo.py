"""``python -m filescan_scanner.demo``: make a few sample files and scan them with the real engine."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from filescan_scanner.analyzers.yara_rules import load_rules
from filescan_scanner.assemble import assemble_report
from filescan_scanner.engine import ScanEngine
from filescan_scanner.report import utc_now
from filescan_scanner.settings import ScannerSettings


def _eicar() -> bytes:
    # Assembled at run time: the repository never holds an EICAR file.
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def make_samples(directory: Path) -> list[Path]:
    """Write the demo samples into ``directory`` and return their paths."""
    samples = {
        "notes.txt": b"Meeting notes: ship the scanner, write the docs.\n" * 50,
        "eicar.com": _eicar(),
        "settings.env": b"REGION=us-east-1\nAWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
    }
    paths = []
    for name, data in samples.items():
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    archive = directory / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("docs/readme.txt", b"nothing to see\n")
        zf.writestr("tools/eicar.com", _eicar())
    paths.append(archive)
    return paths


def main() -> int:
    """Scan each sample and print file, verdict, severity and top finding."""
    settings = ScannerSettings.from_env()
    rules = load_rules()
    with tempfile.TemporaryDirectory(prefix="filescan-demo-") as tmp:
        directory = Path(tmp)
        work = directory / "work"
        work.mkdir()
        engine = ScanEngine(rules, settings.limits(), work)
        rows = [("file", "verdict", "severity", "top finding")]
        for path in make_samples(directory):
            started = utc_now()
            outcome = engine.scan(path, path.name)
            report = assemble_report(
                scan_id=f"demo-{path.name}",
                identity={"source": "local", "path": path.name, "display_name": path.name},
                outcome=outcome,
                started_at=started,
                rules_version=rules.version,
            )
            top = report.findings[0] if report.findings else None
            where = "/".join(top.location.archive_path) if top else ""
            label = f"{top.title} ({top.rule_id}){' in ' + where if where else ''}" if top else "-"
            rows.append((path.name, report.verdict.verdict, report.verdict.severity.label, label))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
