"""Demo sample files, generated at run time (the repository never holds an EICAR file or a key)."""

from __future__ import annotations

import dataclasses
import io
import zipfile


@dataclasses.dataclass(frozen=True)
class Sample:
    """One demo file and the verdicts it may end with."""

    name: str
    body: bytes
    expected: frozenset[str]


def eicar() -> bytes:
    """The EICAR antivirus test string, assembled from two halves."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in members.items():
            archive.writestr(name, body)
    return buffer.getvalue()


def _fake_aws_key() -> bytes:
    # A syntactically valid, fake access key pair (not AWS's documented EXAMPLE key).
    key_id = "AKIA" + "Q4TZ" + "7W2L" + "XK9P" + "M3RD"
    secret = "wJalrXUtnFEMI" + "/K7MDENG/" + "bPxRfiCYzq8Lm3Nd4Vt2"
    return f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n".encode()


def _pdf_with_javascript() -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
        b"<< /Type /Action /S /JavaScript /JS (app.alert\\('filescan demo'\\);) >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def demo_samples() -> list[Sample]:
    """The five demo files: clean text, EICAR, EICAR in a zip, an AWS key, a PDF with JavaScript."""
    worse = frozenset({"suspicious", "malicious"})
    return [
        Sample("notes.txt", b"Quarterly notes: nothing to see here.\n" * 27, frozenset({"clean"})),
        Sample("eicar.com", eicar(), frozenset({"malicious"})),
        Sample(
            "bundle.zip",
            _zip({"readme.txt": b"tools inside\n", "tools/eicar.com": eicar()}),
            frozenset({"malicious"}),
        ),
        Sample("settings.ini", _fake_aws_key(), worse),
        Sample("invoice.pdf", _pdf_with_javascript(), worse),
    ]
