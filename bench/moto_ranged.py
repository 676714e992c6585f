"""``python bench/moto_ranged.py -H HOST -p PORT``: moto's server, whose ranged GETs read only the range.

moto answers every GET by reading the whole object into memory (under the key's lock) and then
slicing out the range: on a 3 GiB object each 8 MiB part costs a 3 GiB read, so a scan of it takes
hours and measures moto. This launcher changes only that: during a single-range GET
(``Range: bytes=A-B``) the key's value is a view that reads the requested slice from moto's own
buffer. Everything else (If-Match, versions, errors, the 206 and its headers) is moto's unchanged
code. For ``make bench-scanner-huge`` only; the tests use plain moto.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from moto.s3 import models, responses
from moto.server import main

_ranged = threading.local()
_value: Any = vars(models.FakeKey)["value"]  # the property object itself


class _Slices:
    """What ``_handle_range_header`` does with the value: ``len()`` and one slice."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, item: slice) -> bytes:
        start, stop, _ = item.indices(len(self))
        with self._key.lock:
            self._key._value_buffer.seek(start)
            return bytes(self._key._value_buffer.read(stop - start))


def _value_or_slices(key: Any) -> Any:
    return _Slices(key) if getattr(_ranged, "active", False) else _value.fget(key)


_key_response = responses.S3Response.key_response


def _key_response_ranged(self: Any, request: Any, full_url: str, headers: Any) -> Any:
    spec = str(request.headers.get("range", ""))
    single = spec.startswith("bytes=") and "," not in spec and not spec[6:].startswith("-")
    _ranged.active = request.method == "GET" and single
    try:
        return _key_response(self, request, full_url, headers)
    finally:
        _ranged.active = False


models.FakeKey.value = property(_value_or_slices, _value.fset)  # type: ignore[assignment, method-assign]
responses.S3Response.key_response = _key_response_ranged  # type: ignore[method-assign]

if __name__ == "__main__":
    main(sys.argv[1:])
