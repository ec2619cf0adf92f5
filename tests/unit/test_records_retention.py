"""services.spark_sink.records_retention's pure parts: months as written, and the first month a
retention of N months keeps (expected values worked out by hand, calendar month by calendar month)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.spark_sink.records_retention import horizon_for, main, parse_month


def test_a_month_is_the_start_of_that_utc_month() -> None:
    assert parse_month("2019-01") == datetime(2019, 1, 1, tzinfo=UTC)
    assert parse_month(" 2024-12 ") == datetime(2024, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2019-13", "2019-00", "2019-1", "2019/01", "January 2019", "2019-01-01", ""])
def test_anything_else_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="write YYYY-MM"):
        parse_month(text)


@pytest.mark.parametrize(
    ("clock", "keep", "first_kept"),
    [
        (datetime(2019, 3, 15, 12, 0, tzinfo=UTC), 1, datetime(2019, 3, 1, tzinfo=UTC)),
        (datetime(2019, 3, 15, 12, 0, tzinfo=UTC), 3, datetime(2019, 1, 1, tzinfo=UTC)),
        (datetime(2019, 3, 15, 12, 0, tzinfo=UTC), 4, datetime(2018, 12, 1, tzinfo=UTC)),
        (datetime(2019, 3, 15, 12, 0, tzinfo=UTC), 27, datetime(2017, 1, 1, tzinfo=UTC)),
        # New York's evening of 31 January is already February in UTC, the partitions' calendar.
        (datetime(2019, 1, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5))), 1, datetime(2019, 2, 1, tzinfo=UTC)),
    ],
)
def test_n_months_kept_end_with_the_clocks_month(clock: datetime, keep: int, first_kept: datetime) -> None:
    assert horizon_for(clock, keep) == first_kept


def test_no_month_kept_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        horizon_for(datetime(2019, 3, 15, tzinfo=UTC), 0)
    with pytest.raises(SystemExit):
        main(["--dsn", "postgresql://nobody@127.0.0.1:1/x", "--keep-months", "0"])


def test_an_unreachable_database_is_named_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dsn", "postgresql://owner@127.0.0.1:1/bikeshare", "--before", "2019-01"]) == 1
    assert "postgres at 127.0.0.1:1/bikeshare" in capsys.readouterr().err
