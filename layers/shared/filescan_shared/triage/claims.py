"""What the model may not say about a file that is not clean.

The verdict is deterministic; the model only writes words for people. Words that call a not-clean
file clean, safe, harmless or benign, or that recommend releasing it, contradict the verdict
whatever severity the model suggested (a prompt injection in the file typically asks for exactly
that). Such an answer is flagged and never becomes the stored summary.

The check is deliberately simple and errs on the side of flagging: a term counts unless a negation
("not", "never", "do not", "before", ...) stands among the few words right before it, in the same
clause (commas and "and"/"but"/"so" end a clause, so "Don't worry, it is safe" is flagged).
A false flag only costs the model's wording (the deterministic summary is stored instead); a
missed one would tell an operator to release a malicious file.
"""

import re
from collections.abc import Iterable

CALLS_FILE_SAFE = "calls_file_safe"
RECOMMENDS_RELEASE = "recommends_release"
LOWER_SEVERITY = "lower_severity"

_SAFE = re.compile(
    r"\b(?:clean|safe|harmless|benign|innocuous|trustworthy|false[- ]positives?)\b"
    r"|\b(?:not|no|non|nothing|zero)[- ](?:[a-z]+[- ]){0,2}?"
    r"(?:malicious|harmful|dangerous|threats?|risks?|malware|suspicious|infected|concern)\b",
    re.IGNORECASE,
)
_RELEASE = re.compile(
    r"\b(?:release[sd]?|releasing|un-?quarantin\w*|allow(?:s|ed|ing)?|allow-?list\w*|whitelist\w*"
    r"|approve[sd]?|restore[sd]?|lift(?:ing)? the quarantine|remove (?:it )?from quarantine)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(?:not|never|no|don't|do not|does not|doesn't|cannot|can't|isn't|is not|without|nor|before"
    r"|prior to|until|unless|avoid|refuse|instead of)\b",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.,;:!?\n]|\b(?:and|but|so|then|however|yet|although)\b", re.IGNORECASE)
_WORD = re.compile(r"[\w']+")
NEGATION_WINDOW = 40
"""How many characters before a term are looked at (its clause, cut to ``NEGATION_WORDS``)."""
NEGATION_WORDS = 3
"""How many words right before a term a negation may stand in ("should not be released")."""


def _asserted(pattern: re.Pattern[str], text: str) -> bool:
    """Whether ``pattern`` occurs in ``text`` without a negation right before it in its clause."""
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - NEGATION_WINDOW) : match.start()]
        clause = _CLAUSE_END.split(before)[-1]
        nearest = " ".join(_WORD.findall(clause)[-NEGATION_WORDS:])
        if not _NEGATION.search(nearest):
            return True
    return False


def forbidden_claims(texts: Iterable[str]) -> list[str]:
    """The forbidden claims (``calls_file_safe``, ``recommends_release``) made anywhere in ``texts``."""
    joined = "\n".join(texts)
    found = []
    if _asserted(_SAFE, joined):
        found.append(CALLS_FILE_SAFE)
    if _asserted(_RELEASE, joined):
        found.append(RECOMMENDS_RELEASE)
    return found
