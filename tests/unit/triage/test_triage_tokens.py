"""Offline token counting: exact cl100k_base from the bundled ranks, or a byte upper bound."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filescan_shared.triage import tokens
from filescan_shared.triage.tokens import (
    Utf8ByteCounter,
    cl100k_counter,
    count_chat_tokens,
    counter_for,
    model_uses_cl100k,
)


def test_given_no_network_and_no_cache_when_cl100k_loads_then_it_counts_from_bundled_ranks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the tokenizer tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    cl100k_counter.cache_clear()
    try:
        counter = cl100k_counter()
    finally:
        cl100k_counter.cache_clear()
    assert counter.name == "cl100k_base"
    # Known cl100k_base encodings.
    assert counter.count("hello world") == 2
    assert counter.count("tiktoken is great!") == 6
    assert counter.count("") == 0
    assert not (tmp_path / "empty-cache").exists()


def test_given_known_text_when_cl100k_encodes_it_then_the_token_ids_match() -> None:
    encoding = cl100k_counter()._encoding
    assert encoding.encode_ordinary("hello world") == [15339, 1917]
    assert encoding.n_vocab == 100277


def test_given_special_token_text_when_counted_then_it_counts_as_plain_text() -> None:
    counter = cl100k_counter()
    assert counter.count("<|endoftext|>") > 1  # not the single special token


def test_given_a_corrupt_ranks_file_when_loaded_then_it_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "CL100K_SHA256", "0" * 64)
    with pytest.raises(tokens.TokenizerUnavailableError):
        tokens._load_cl100k_ranks()


def test_given_a_model_name_when_a_counter_is_chosen_then_cl100k_only_for_its_models() -> None:
    assert model_uses_cl100k("gpt-3.5-turbo")
    assert model_uses_cl100k("gpt-3.5-turbo-0125")
    assert model_uses_cl100k("gpt-4")
    assert not model_uses_cl100k("gpt-4o-mini")
    assert not model_uses_cl100k("llama3")
    assert counter_for("gpt-3.5-turbo").name == "cl100k_base"
    assert counter_for("gpt-4o").name == "utf8-bytes-upper-bound"
    assert counter_for("gpt-3.5-turbo", "utf8-bytes").name == "utf8-bytes-upper-bound"
    assert counter_for("my-model", "cl100k_base").name == "cl100k_base"


def test_given_chat_messages_when_counted_then_the_per_message_overhead_is_added() -> None:
    counter = cl100k_counter()
    messages = [{"role": "system", "content": "hello world"}, {"role": "user", "content": "hi"}]
    expected = 3 + (3 + counter.count("system") + 2) + (3 + counter.count("user") + counter.count("hi"))
    assert count_chat_tokens(counter, messages) == expected
    assert (
        count_chat_tokens(counter, [{"role": "user", "content": "x", "name": "bob"}]) == 3 + 3 + 1 + 1 + 1 + 1
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_given_any_text_when_counted_in_utf8_bytes_then_it_bounds_the_cl100k_count(text: str) -> None:
    assert Utf8ByteCounter().count(text) >= cl100k_counter().count(text)
