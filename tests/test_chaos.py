"""The short chaos variant (CI): ~50,000 real events through the whole cluster while each kind of
process is SIGKILLed once (producer, enricher worker, Spark driver, Spark worker, web replica, the
Kafka broker leading the most partitions, Postgres mid-batch); afterwards nothing is lost or
duplicated and the tables, both web replicas and a websocket client connected throughout agree with a
recomputation from the trip files (`devstack.chaos_checks`). The long run is `./dev chaos`."""

from __future__ import annotations

import logging

import pytest

from devstack import paths
from devstack.chaos import run_chaos
from devstack.chaos_plan import KINDS

pytestmark = pytest.mark.cluster

SEED = 20261129


def test_nothing_lost_or_duplicated_when_every_kind_of_process_is_killed() -> None:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    report = run_chaos(events=50_000, kills=len(KINDS), seed=SEED, state=paths.LOCAL / "tests" / "chaos", replay_s=150)
    text = "\n".join(report.lines())
    print(text)  # noqa: T201 - the kill/recovery table is the point of this test's output
    verdict = report.verdict
    assert verdict is not None, text
    assert {k.kind for k in report.kills if k.killed_s is not None} == set(KINDS), text
    assert verdict.lost == 0, text
    assert verdict.duplicated == 0, text
    assert verdict.unexpected == 0, text
    assert verdict.tables_equal, text
    assert verdict.ok, text
    assert verdict.last_line() == "chaos: 0 lost, 0 duplicated, tables equal"
