"""The deterministic summariser: a readable paragraph and actions without any LLM."""

from collections import Counter
from dataclasses import dataclass

from filescan_shared.severity import Verdict
from filescan_shared.triage.models import TriageInput
from filescan_shared.triage.prompt import sort_findings
from filescan_shared.triage.text import safe_text

TOP_TITLES = 3
TITLE_CHARS = 120

ACTIONS_BY_VERDICT: dict[Verdict, tuple[str, ...]] = {
    Verdict.CLEAN: ("No action needed: the object can be released.",),
    Verdict.SUSPICIOUS: (
        "Keep the object quarantined.",
        "Have an analyst review the findings before releasing it.",
    ),
    Verdict.MALICIOUS: (
        "Keep the object quarantined and do not open it.",
        "Block its SHA-256 and notify the uploader's security contact.",
        "Check other objects from the same uploader.",
    ),
    Verdict.UNSCANNABLE: (
        "Keep the object quarantined.",
        "Obtain a scannable copy (for example without encryption) or review it manually.",
    ),
    Verdict.ERROR: (
        "Keep the object quarantined.",
        "Re-run the scan; escalate if it fails again.",
    ),
}
PARTIAL_ACTION = "Review the parts that were not fully inspected."


@dataclass(frozen=True)
class RulesSummary:
    """A summary written without an LLM."""

    summary: str
    key_findings: list[str]
    recommended_actions: list[str]


def _join(items: list[str]) -> str:
    return "; ".join(safe_text(i, TITLE_CHARS) for i in items)


def summarise(inp: TriageInput) -> RulesSummary:
    """Describe the verdict, severity, finding counts, top findings, gaps and actions."""
    ranked = sort_findings(inp.findings)
    parts = [
        f"Verdict {inp.verdict.value}, severity {inp.severity.label}, "
        f"for {safe_text(inp.object_key, TITLE_CHARS)!r} ({inp.file.size} bytes"
        + (f", {safe_text(inp.file.mime, 64)}" if inp.file.mime else "")
        + ")."
    ]
    if ranked:
        counts = Counter(safe_text(f.category, 64) for f in ranked)
        by_category = ", ".join(
            f"{n} {cat}" for cat, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
        parts.append(f"{len(ranked)} finding(s): {by_category}.")
        tops = [f"{safe_text(f.title, TITLE_CHARS)} ({f.severity.label})" for f in ranked[:TOP_TITLES]]
        parts.append("Top findings: " + "; ".join(tops) + ".")
    else:
        parts.append("No findings.")
    gaps = [*inp.limits_hit, *inp.unscannable_reasons]
    gaps += [f"engine not run: {e}" for e in inp.engines_not_run]
    gaps += [f"engine error: {e}" for e in inp.engines_errored]
    if gaps:
        parts.append(f"Not fully inspected: {_join(gaps)}.")
    actions = list(ACTIONS_BY_VERDICT.get(inp.verdict, ACTIONS_BY_VERDICT[Verdict.ERROR]))
    if gaps and inp.verdict is not Verdict.UNSCANNABLE:
        actions.append(PARTIAL_ACTION)
    key_findings = [
        f"[{f.severity.label}] {safe_text(f.engine, 32)}/{safe_text(f.rule_id, 64)}: "
        f"{safe_text(f.title, TITLE_CHARS)}"
        for f in ranked[:TOP_TITLES]
    ]
    return RulesSummary(summary=" ".join(parts), key_findings=key_findings, recommended_actions=actions)
