"""The naming check in tests/conftest.py: which names it refuses and what it says."""

from tests.support.naming import misnamed, naming_error


def test_given_free_and_given_when_then_names_when_checked_then_only_the_free_ones_are_listed() -> None:
    node_ids = [
        "tests/unit/a.py::test_given_a_file_when_scanned_then_it_is_clean",
        "tests/unit/a.py::test_given_x_when_y_then_z[1-2]",
        "tests/unit/a.py::test_detect_kind",
        "tests/unit/a.py::test_verdict_table[eicar in zip]",
        "tests/unit/a.py::test_verdict_table[nothing]",
        "tests/unit/b.py::TestApi::test_given_a_route_then_200",
        "tests/unit/b.py::TestApi::test_given_a_route_when_called_then_200",
    ]

    assert misnamed(node_ids) == [
        "tests/unit/a.py::test_detect_kind",
        "tests/unit/a.py::test_verdict_table",
        "tests/unit/b.py::TestApi::test_given_a_route_then_200",
    ]


def test_given_misnamed_tests_when_reported_then_the_message_lists_each_and_the_shape() -> None:
    message = naming_error(["tests/unit/a.py::test_detect_kind"])

    assert message.startswith("1 test(s) not named test_given_<situation>_when_<action>_then_<outcome>")
    assert "\n  tests/unit/a.py::test_detect_kind" in message
