"""The week's step runner: a check run beside the next steps counts for the step that began it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from twin.errors import TwinError
from twin.week.steps import Record, Step, run_steps


def _pushing(check: Callable[[], str]) -> Callable[[Record], str]:
    """A step that pushed something and leaves ``check`` (its fresh clone) beside the next."""

    def step(record: Record) -> str:
        record.beside("the fresh clone", check)
        return "pushed"

    return step


def test_a_passing_check_beside_the_next_steps_adds_its_detail_to_its_own_step() -> None:
    release = threading.Event()
    ran: list[str] = []

    def check() -> str:
        release.wait(5)
        return "fresh clone clean"

    first = _pushing(check)

    def second(record: Record) -> str:
        ran.append("second")
        release.set()  # the check was still running while this step ran
        return "merged"

    record = Record()
    run_steps([Step("night", first), Step("merge", second)], record, record)

    assert ran == ["second"]
    assert [o.status for o in record.outcomes] == ["pass", "pass"]
    night = record.outcomes[0].detail
    assert night.startswith("pushed; fresh clone clean (beside the next steps, ")
    assert record.outcomes[1].detail == "merged"
    assert record.ok


def test_a_failed_check_fails_its_step_and_stops_the_run_at_the_next_boundary() -> None:
    go = threading.Event()
    ran: list[str] = []

    def check() -> str:
        go.wait(5)
        raise TwinError("dvc status after pull is not clean")

    first = _pushing(check)

    def second(record: Record) -> str:
        go.set()
        record.checks[0].thread.join(5)  # type: ignore[union-attr]
        ran.append("second")
        return "merged"

    def third(record: Record) -> str:
        ran.append("third")
        return "never"

    record = Record()
    run_steps([Step("night", first), Step("merge", second), Step("deploy", third)], record, record)

    assert ran == ["second"]
    statuses = [(o.name, o.status) for o in record.outcomes]
    assert statuses == [("night", "FAIL"), ("merge", "pass"), ("deploy", "not run")]
    assert "the fresh clone (beside the next steps) failed: dvc status" in record.outcomes[0].detail
    assert not record.ok


def test_checks_still_running_after_the_last_step_are_joined_and_counted_in_the_total() -> None:
    release = threading.Event()

    def only(record: Record) -> str:
        def check() -> str:
            release.wait(0.3)
            return "same version"

        record.beside("registering again", check)
        return "started"

    record = Record()
    run_steps([Step("register again", only)], record, record)

    assert record.outcomes[0].status == "pass"
    assert "same version" in record.outcomes[0].detail
    assert record.waited > 0.2
    total = record.table().splitlines()[3]
    assert "waiting for checks" in total
    assert float(total.split("|")[4]) >= record.outcomes[0].seconds + 0.2


def test_a_crashing_check_is_named_in_the_table() -> None:
    def only(record: Record) -> str:
        record.beside("the clone", lambda: str(1 / 0))
        return "started"

    record = Record()
    run_steps([Step("night", only)], record, record)

    assert record.outcomes[0].status == "FAIL"
    assert "ZeroDivisionError" in record.outcomes[0].detail
