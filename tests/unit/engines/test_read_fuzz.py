"""Arbitrary engine output through the shipped mappings and a JSON one: never a crash, never a false clean."""

from __future__ import annotations

import json
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from filescan_shared.engines.catalogue import EngineSpec
from filescan_shared.engines.read import read_engine_result
from filescan_shared.engines.results import RAW_OUTPUT_EXCERPT_CHARS, EngineResult, EngineRunStatus
from filescan_shared.severity import Verdict
from tests.unit.engines.golden import catalogue
from tests.unit.engines.test_read import spec

CLAMAV = catalogue().get("clamav")
YARA = catalogue().get("yara-cli")
ACME = spec()

# Lines shaped like the engines' own (so the patterns are exercised), mixed with anything at all.
LINE = st.one_of(
    st.text(max_size=80),
    st.builds("{}: {} FOUND".format, st.text(max_size=20), st.text(max_size=20)),
    st.builds("{}: OK".format, st.text(max_size=20)),
    st.builds("Scanned files: {}".format, st.integers(-1, 3)),
    st.builds("Infected files: {}".format, st.integers(-1, 3)),
    st.builds(
        "{} [{}] {}".format,
        st.from_regex(r"[A-Za-z_]\w{0,8}", fullmatch=True),
        st.text(max_size=30),
        st.text(max_size=20),
    ),
    st.builds("0x{:x}:${}: {}".format, st.integers(0, 2**70), st.text(max_size=8), st.text(max_size=30)),
)
TEXT_OUTPUT = st.one_of(
    st.lists(LINE, max_size=12).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    st.binary(max_size=2000),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["status", "detections", "id", "name", "level", "kind", "path", "at", "snippet"]),
            inner,
            max_size=5,
        )
    ),
    max_leaves=40,
)


def read(engine: EngineSpec, output: bytes) -> EngineResult:
    return read_engine_result(
        engine, status=EngineRunStatus.SUCCEEDED, output=output, output_key=None, report=None, llm_reader=None
    )


def read_checked(engine: EngineSpec, output: bytes) -> EngineResult:
    """``output`` read as ``engine``'s, checked well formed whatever it was."""
    result = read(engine, output)
    assert result.raw_output is not None
    assert len(result.raw_output) <= RAW_OUTPUT_EXCERPT_CHARS
    assert result.raw_output_bytes == len(output)
    assert result.reasons
    EngineResult.model_validate(result.model_dump(mode="json"))  # what analysis stores reads back
    return result


@settings(max_examples=300, deadline=None)
@given(TEXT_OUTPUT)
def test_given_any_text_output_when_read_as_yara_then_no_crash_and_clean_only_when_blank(
    output: bytes,
) -> None:
    result = read_checked(YARA, output)
    assert (result.verdict is Verdict.CLEAN) == (not output.decode("utf-8", "replace").strip())


@settings(max_examples=300, deadline=None)
@given(TEXT_OUTPUT)
def test_given_any_text_output_when_read_as_clamscan_then_no_crash_and_clean_needs_positive_evidence(
    output: bytes,
) -> None:
    result = read_checked(CLAMAV, output)
    if result.verdict is Verdict.CLEAN:
        text = output.decode("utf-8", "replace")
        assert re.search(r"(?m): (OK|Empty file)$|^Scanned files: [1-9]", text)
        assert not re.search(r"(?m) FOUND$|ERROR|WARNING", text)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUE)
def test_given_any_json_document_when_read_by_a_json_mapping_then_no_crash(document: object) -> None:
    output = json.dumps(document).encode()

    result = read_checked(ACME, output)
    if result.verdict is Verdict.CLEAN:
        assert isinstance(document, dict)
        assert document.get("status") == "clean"
