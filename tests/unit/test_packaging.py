"""packaging/Makefile: what `sam build` ships is compiled bytecode that Lambda loads as is.

Lambda's /var/task and /opt are read-only, so a module shipped as source is compiled again on every
cold start. These tests run the Makefile's targets the way SAM does (a copy of the CodeUri as the
working directory, ARTIFACTS_DIR set) and check the artefacts: every source has an unchecked-hash
.pyc, and a read-only import takes the bytecode without reading the source.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "packaging" / "Makefile"
UNCHECKED_HASH_FLAGS = 0b01  # PEP 552: hash-based, source not checked


def _sam_like_build(target: str, code_uri: Path, scratch: Path) -> Path:
    """Run ``make build-<target>`` as SAM's makefile builder does; return the artefact directory."""
    work = scratch / "work"
    shutil.copytree(code_uri, work, ignore=shutil.ignore_patterns("requirements.txt"))
    # No third-party requirement: the pip step is exercised by `sam build` in `make check-template`.
    (work / "requirements.txt").write_text("# none\n")
    artifacts = scratch / "artifacts"
    subprocess.run(
        ["make", "--makefile", str(MAKEFILE), f"build-{target}", f"PYTHON={sys.executable}"],
        check=True,
        capture_output=True,
        cwd=work,
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts)},
    )
    return artifacts


def _pyc_flags(source: Path) -> int:
    cached = Path(importlib.util.cache_from_source(str(source)))
    assert cached.is_file(), f"no bytecode for {source}"
    header = cached.read_bytes()[:16]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    return int.from_bytes(header[4:8], "little")


def test_given_the_layer_when_built_then_every_module_ships_unchecked_hash_bytecode(tmp_path: Path) -> None:
    artifacts = _sam_like_build("SharedLayer", REPO / "layers" / "shared", tmp_path)

    sources = sorted((artifacts / "python" / "filescan_shared").rglob("*.py"))
    shared = REPO / "layers" / "shared"
    expected = sorted(path.relative_to(shared) for path in (shared / "filescan_shared").rglob("*.py"))
    assert [path.relative_to(artifacts / "python") for path in sources] == expected
    assert all(_pyc_flags(source) == UNCHECKED_HASH_FLAGS for source in sources)
    assert (artifacts / "python" / "filescan_shared" / "report" / "schema.json").is_file()


def test_given_a_built_function_when_imported_read_only_then_the_bytecode_is_used_not_the_source(
    tmp_path: Path,
) -> None:
    code_uri = tmp_path / "function"
    code_uri.mkdir()
    (code_uri / "app.py").write_text("BUILT = 'at build time'\n")
    (code_uri / "notes.txt").write_text("not shipped\n")
    artifacts = _sam_like_build("StatusFunction", code_uri, tmp_path)
    assert sorted(path.name for path in artifacts.iterdir()) == ["__pycache__", "app.py"]
    assert _pyc_flags(artifacts / "app.py") == UNCHECKED_HASH_FLAGS
    # Change the source after the build: only a compile at import would see it.
    (artifacts / "app.py").write_text("BUILT = 'compiled at import'\n")

    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import app; print(app.BUILT)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=artifacts,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(artifacts), "PATH": os.environ["PATH"]},
    )

    assert probe.stdout.strip() == "at build time"


def test_given_the_real_functions_when_built_then_each_ships_its_handler_compiled(tmp_path: Path) -> None:
    for name, logical in (("status", "StatusFunction"), ("api", "ApiFunction")):
        artifacts = _sam_like_build(logical, REPO / "functions" / name, tmp_path / name)
        assert (artifacts / "app.py").read_bytes() == (REPO / "functions" / name / "app.py").read_bytes()
        assert _pyc_flags(artifacts / "app.py") == UNCHECKED_HASH_FLAGS
