"""Helpers for the content-analyzer tests: a fake ScanContext and fixture builders made at test time."""

from __future__ import annotations

import dataclasses
import struct
import zlib
from pathlib import Path
from typing import Any

from filescan_scanner.analyzers.base import AnalyzerResult, LimitHit, ScanLimits, Target


@dataclasses.dataclass
class FakeContext:
    """Records every nested target; optionally recurses with ``analyzer`` like the engine would."""

    work_dir: Path
    limits: ScanLimits = dataclasses.field(default_factory=ScanLimits)
    analyzer: Any = None
    nested: list[Target] = dataclasses.field(default_factory=list)
    contents: list[bytes] = dataclasses.field(default_factory=list)
    nested_results: list[AnalyzerResult] = dataclasses.field(default_factory=list)
    keep_bytes: int = 4096

    def local_copy(self, target: Target) -> Path | LimitHit:
        assert target.path is not None, "the content tests scan local files"
        return target.path

    def scan_nested(self, target: Target) -> None:
        assert target.path is not None and target.path.parent == self.work_dir
        self.nested.append(target)
        with target.path.open("rb") as fp:
            self.contents.append(fp.read(self.keep_bytes))
        if self.analyzer is not None and self.analyzer.applies_to(target):
            self.nested_results.append(self.analyzer.analyze(target, self))


def make_target(
    path: Path, display_name: str | None = None, mime: str | None = None, depth: int = 0
) -> Target:
    return Target(
        path=path, display_name=display_name or path.name, size=path.stat().st_size, mime=mime, depth=depth
    )


# --- a real ZipCrypto ("traditional PKWARE") encrypted zip, written by hand -------------------------------


def _crc_step(key: int, byte: int) -> int:
    return zlib.crc32(bytes([byte]), key ^ 0xFFFFFFFF) ^ 0xFFFFFFFF


class _ZipCrypto:
    def __init__(self, password: bytes) -> None:
        self.k = [0x12345678, 0x23456789, 0x34567890]
        for b in password:
            self._update(b)

    def _update(self, b: int) -> None:
        k0 = _crc_step(self.k[0], b)
        k1 = ((self.k[1] + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = _crc_step(self.k[2], k1 >> 24)
        self.k = [k0, k1, k2]

    def encrypt(self, data: bytes) -> bytes:
        out = bytearray()
        for p in data:
            t = (self.k[2] | 2) & 0xFFFF
            out.append(p ^ (((t * (t ^ 1)) >> 8) & 0xFF))
            self._update(p)
        return bytes(out)


def encrypted_zip(name: bytes, plain: bytes, password: bytes) -> bytes:
    """A stored member encrypted with ZipCrypto; ``zipfile`` can decrypt it with the password."""
    crc = zlib.crc32(plain)
    body = _ZipCrypto(password).encrypt(b"\x11" * 11 + bytes([crc >> 24]) + plain)
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 1, 0, 0, 0, crc, len(body), len(plain), len(name), 0
    )
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII",
        b"PK\x01\x02",
        20,
        20,
        1,
        0,
        0,
        0,
        crc,
        len(body),
        len(plain),
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    cd = central + name
    cd_offset = len(local) + len(name) + len(body)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(cd), cd_offset, 0)
    return local + name + body + cd + eocd


# --- a minimal PE32 with an import table, assembled with struct ------------------------------------------


def build_pe(
    imports: dict[bytes, list[bytes]], extra: dict[bytes, bytes] | None = None, dll: bool = False
) -> bytes:
    """A PE32 image: .text, .idata with ``imports``, then ``extra`` sections (name -> raw data)."""
    idata_rva, file_align = 0x2000, 0x200
    n = len(imports)
    pos = (n + 1) * 20
    thunks = {}
    for name, funcs in imports.items():
        thunks[name] = (pos, pos + (len(funcs) + 1) * 4)
        pos += 2 * (len(funcs) + 1) * 4
    strings = bytearray()
    name_rva: dict[bytes, int] = {}
    for name, funcs in imports.items():
        name_rva[name] = idata_rva + pos + len(strings)
        strings += name + b"\x00"
        for func in funcs:
            if len(strings) % 2:
                strings += b"\x00"
            name_rva[name + b"!" + func] = idata_rva + pos + len(strings)
            strings += struct.pack("<H", 0) + func + b"\x00"
    idata = bytearray(pos) + strings
    for i, (name, funcs) in enumerate(imports.items()):
        ilt, iat = thunks[name]
        struct.pack_into("<IIIII", idata, i * 20, idata_rva + ilt, 0, 0, name_rva[name], idata_rva + iat)
        for j, func in enumerate(funcs):
            struct.pack_into("<I", idata, ilt + 4 * j, name_rva[name + b"!" + func])
            struct.pack_into("<I", idata, iat + 4 * j, name_rva[name + b"!" + func])
    sections = [(b".text", b"\xc3" + bytes(15)), (b".idata", bytes(idata)), *(extra or {}).items()]
    headers_size = file_align
    raw, rva, table, body = headers_size, 0x1000, b"", b""
    for sname, data in sections:
        size = -(-len(data) // file_align) * file_align
        table += struct.pack("<8sIIIIIIHHI", sname, len(data), rva, size, raw, 0, 0, 0, 0, 0x60000020)
        body += data.ljust(size, b"\x00")
        raw += size
        rva += -(-len(data) // 0x1000) * 0x1000
    dirs = [(0, 0)] * 16
    dirs[1] = (idata_rva, len(idata))
    optional = struct.pack(
        "<HBBIIIIIIIIIHHHHHHIIIIHHIIIIII",
        0x10B,
        14,
        0,
        0x200,
        0,
        0,
        0x1000,
        0x1000,
        0x2000,
        0x400000,
        0x1000,
        file_align,
        6,
        0,
        0,
        0,
        6,
        0,
        0,
        rva,
        headers_size,
        0,
        2,
        0,
        0x100000,
        0x1000,
        0x100000,
        0x1000,
        0,
        16,
    ) + b"".join(struct.pack("<II", *d) for d in dirs)
    characteristics = 0x0102 | (0x2000 if dll else 0)
    file_header = struct.pack(
        "<HHIIIHH", 0x14C, len(sections), 1_700_000_000, 0, 0, len(optional), characteristics
    )
    dos = bytearray(64)
    dos[:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    head = bytes(dos) + b"PE\x00\x00" + file_header + optional + table
    return head.ljust(headers_size, b"\x00") + body


def build_elf(*, is64: bool = True, big: bool = False, machine: int = 62, interp: bool = False) -> bytes:
    """An ELF header plus one program header (PT_INTERP when ``interp``, else PT_LOAD)."""
    e = ">" if big else "<"
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 2 if big else 1, 1, 0]) + bytes(8)
    if is64:
        header = ident + struct.pack(
            e + "HHIQQQIHHHHHH", 2, machine, 1, 0x401000, 64, 0, 0, 64, 56, 1, 64, 0, 0
        )
        phdr = struct.pack(e + "IIQQQQQQ", 3 if interp else 1, 5, 0, 0, 0, 0, 0, 0)
    else:
        header = ident + struct.pack(
            e + "HHIIIIIHHHHHH", 2, machine, 1, 0x401000, 52, 0, 0, 52, 32, 1, 40, 0, 0
        )
        phdr = struct.pack(e + "IIIIIIII", 3 if interp else 1, 0, 0, 0, 0, 0, 5, 0)
    return header + phdr + bytes(64)
