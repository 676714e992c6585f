"""The suite's one test-naming style: ``test_given_<situation>_when_<action>_then_<outcome>``.

It is the style of the Lambda handler cookbook the project follows; ``tests/conftest.py`` refuses a
run that collects a test named otherwise, so the style holds as tests are added.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TEST_NAME = re.compile(r"^test_given_.+_when_.+_then_.+")


def misnamed(node_ids: Iterable[str]) -> list[str]:
    """The tests (node ids without their parameters) whose function name is not Given/When/Then."""
    tests = {node_id.split("[", 1)[0] for node_id in node_ids}
    return sorted(test for test in tests if not TEST_NAME.match(test.rsplit("::", 1)[-1]))


def naming_error(offenders: list[str]) -> str:
    """The message that names every offender and the expected shape."""
    listed = "\n".join(f"  {test}" for test in offenders)
    return (
        f"{len(offenders)} test(s) not named test_given_<situation>_when_<action>_then_<outcome>"
        f" (the suite's one style):\n{listed}"
    )
