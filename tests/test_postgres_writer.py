"""The sink's transaction on a real Postgres: the availability model against an oracle written here, for
events delivered in any order and split into any batches, replayed batches, and a NOTIFY per batch."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pyarrow as pa
import pytest

from services.spark_sink.postgres_writer import staging_row, write_events
from shared.schema import NOTIFY_CHANNEL

pytestmark = pytest.mark.stack

T0 = datetime(2024, 11, 3, 5, 0, tzinfo=UTC)
KIND_ORDER = {"stock": 0, "end": 1, "start": 2}


@dataclass(frozen=True)
class Ev:
    n: int
    kind: str
    station: str
    minute: int
    bike: str | None = None
    rideable: str | None = None
    count: int = 1

    @property
    def time(self) -> datetime:
        return T0 + timedelta(minutes=self.minute)

    @property
    def key(self) -> tuple[datetime, int, uuid.UUID]:
        return (self.time, KIND_ORDER[self.kind], uuid.UUID(int=self.n))

    def row(self) -> tuple[object, ...]:
        return staging_row(
            {
                "event_id": str(uuid.UUID(int=self.n)),
                "event_time": self.time.isoformat(),
                "kind": self.kind,
                "bike_id": self.bike,
                "station_id": self.station,
                "street": f"Street {self.station}",
                "lat": 40.7,
                "lon": -73.9,
                "trip_id": f"trip-{self.n}",
                "rideable_type": self.rideable,
                "count": self.count,
            }
        )


def oracle(events: list[Ev], at: datetime) -> dict[str, tuple[int, int]]:
    """(bikes, ebikes) per station at moment `at`, straight from the model's definition."""
    state: dict[str, list[int]] = {e.station: [0, 0] for e in events if e.time <= at}
    by_bike: dict[str, list[Ev]] = {}
    for e in events:
        if e.bike is None:
            if e.time <= at:
                sign = -1 if e.kind == "start" else 1
                state[e.station][0] += sign * e.count
                state[e.station][1] += sign * e.count if e.rideable == "electric_bike" else 0
        else:
            by_bike.setdefault(e.bike, []).append(e)
    for bike_events in by_bike.values():
        latest = max((e for e in bike_events if e.time <= at), key=lambda e: e.key, default=None)
        if latest is not None and latest.kind != "start":
            state[latest.station][0] += 1
            state[latest.station][1] += latest.rideable == "electric_bike"
    return {s: (b, eb) for s, (b, eb) in state.items()}


async def state_at(conn: asyncpg.Connection, at: datetime) -> dict[str, tuple[int, int]]:
    rows = await conn.fetch(
        "SELECT DISTINCT ON (station_id) station_id, bikes, ebikes FROM availability_history "
        "WHERE event_time <= $1 ORDER BY station_id, event_time DESC",
        at,
    )
    return {r["station_id"]: (r["bikes"], r["ebikes"]) for r in rows}


async def assert_matches_oracle(conn: asyncpg.Connection, events: list[Ev]) -> None:
    for moment in sorted({e.time for e in events}):
        expected = {s: v for s, v in oracle(events, moment).items() if v != (0, 0)}
        got = {s: v for s, v in (await state_at(conn, moment)).items() if v != (0, 0)}
        assert got == expected, f"state at {moment}"
    final = oracle(events, T0 + timedelta(days=365))
    current = {r["station_id"]: (r["bikes"], r["ebikes"]) for r in await conn.fetch("SELECT * FROM availability")}
    assert current == final
    # Only changes are kept: no two consecutive history rows of a station hold the same state.
    same = await conn.fetchval(
        "SELECT count(*) FROM (SELECT bikes, ebikes, lag(bikes) OVER w AS b0, lag(ebikes) OVER w AS e0 "
        "FROM availability_history WINDOW w AS (PARTITION BY station_id ORDER BY event_time)) x "
        "WHERE bikes = b0 AND ebikes = e0"
    )
    assert same == 0


def random_events(rng: random.Random) -> list[Ev]:
    """Tracked bikes riding between five stations (rebalanced now and then, with opening stock), and
    anonymous flows with e-bikes; many events share a minute."""
    events: list[Ev] = []
    n = 0
    stations = ["A", "B", "C", "D", "E"]
    for bike in range(8):
        where, minute = rng.choice(stations), 0
        if rng.random() < 0.5:
            n += 1
            events.append(Ev(n, "stock", where, 0, f"b{bike}", "classic_bike"))
        rideable = rng.choice(["classic_bike", "electric_bike"])
        for _ in range(rng.randint(1, 6)):
            if rng.random() < 0.2:
                where = rng.choice(stations)  # rebalanced: departs elsewhere
            minute += rng.randint(0, 20)
            n += 1
            events.append(Ev(n, "start", where, minute, f"b{bike}", rideable))
            where, minute = rng.choice(stations), minute + rng.randint(0, 30)
            n += 1
            events.append(Ev(n, "end", where, minute, f"b{bike}", rideable))
    for station in stations[:3]:
        n += 1
        events.append(Ev(n, "stock", station, 0, None, "electric_bike", count=rng.randint(0, 3)))
    for _ in range(40):
        n += 1
        kind = rng.choice(["start", "end"])
        anonymous_type = rng.choice(["classic_bike", "electric_bike", None])
        events.append(Ev(n, kind, rng.choice(stations), rng.randint(0, 120), None, anonymous_type))
    return events


@pytest.mark.parametrize(("seed", "order"), [(s, "shuffled") for s in range(6)] + [(6, "newest first")])
async def test_any_delivery_order_and_batching_gives_the_model(fresh_database: str, seed: int, order: str) -> None:
    rng = random.Random(seed)
    events = random_events(rng)
    shuffled = events[:]
    rng.shuffle(shuffled)
    if order == "newest first":
        shuffled.sort(key=lambda e: e.key, reverse=True)
    conn = await asyncpg.connect(fresh_database)
    try:
        batch_id, i = 0, 0
        while i < len(shuffled):
            size = rng.randint(1, 40)
            batch = [e.row() for e in shuffled[i : i + size]]
            await write_events(conn, batch_id, batch)
            if rng.random() < 0.3:  # Spark re-runs the batch after a crash: nothing changes twice
                again = await write_events(conn, batch_id, batch)
                assert again.inserted == 0
            batch_id, i = batch_id + 1, i + size
        await assert_matches_oracle(conn, events)
        starts = sum(1 for e in events if e.kind == "start")
        assert await conn.fetchval("SELECT sum(amount) FROM frequency") == starts
    finally:
        await conn.close()


BATCH = [
    Ev(1, "start", "A", 0, "b1").row(),  # b1 was never seen at A: A does not go below zero
    Ev(2, "end", "B", 5, "b1").row(),
    Ev(3, "end", "B", 5).row(),
    Ev(4, "start", "B", 7).row(),
    Ev(3, "end", "B", 5).row(),  # a duplicate of event 3
]


async def test_batch_writes_each_table_once_per_event(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        result = await write_events(conn, 0, BATCH)
        assert (result.events, result.inserted) == (5, 4)
        availability = {r["station_id"]: r["bikes"] for r in await conn.fetch("SELECT * FROM availability")}
        assert availability == {"A": 0, "B": 1}
        frequency = {r["minute"]: r["amount"] for r in await conn.fetch("SELECT * FROM frequency")}
        assert frequency == {T0: 1, T0 + timedelta(minutes=7): 1}  # trips started, not events
        assert await conn.fetchval("SELECT street FROM location WHERE station_id = 'B'") == "Street B"
        assert await conn.fetchval("SELECT bike_id FROM records WHERE event_id = $1", uuid.UUID(int=2)) == "b1"

        replay = await write_events(conn, 0, BATCH)  # Spark re-runs a batch after a crash
        assert replay.inserted == 0
        again = {r["station_id"]: r["bikes"] for r in await conn.fetch("SELECT * FROM availability")}
        assert again == availability
        assert await conn.fetchval("SELECT sum(amount) FROM frequency") == 2
    finally:
        await conn.close()


async def test_a_late_arrival_corrects_the_past_and_a_rebalanced_bike_is_counted(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        # b1 leaves C at 10:30 (batch 0); its earlier arrival at A at 10:00 comes a batch later; then it
        # is seen leaving B at 11:00 (rebalanced from C to B).
        await write_events(conn, 0, [Ev(1, "start", "A", 30, "b1").row(), Ev(2, "end", "C", 40, "b1").row()])
        await write_events(conn, 1, [Ev(3, "end", "A", 0, "b1").row(), Ev(4, "start", "B", 60, "b1").row()])
        assert await state_at(conn, T0 + timedelta(minutes=10)) == {"A": (1, 0)}
        assert (await state_at(conn, T0 + timedelta(minutes=45)))["C"] == (1, 0)
        assert (await state_at(conn, T0 + timedelta(minutes=61)))["C"] == (0, 0)
        assert await conn.fetchval("SELECT count(*) FROM bike_rebalancing") == 1
        row = await conn.fetchrow("SELECT from_station, to_station FROM bike_rebalancing")
        assert (row["from_station"], row["to_station"]) == ("C", "B")
    finally:
        await conn.close()


async def test_docks_come_from_the_capacity_and_overfull_stations_are_flagged(fresh_database: str) -> None:
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute(
            "INSERT INTO station_info (station_id, name, lat, lon, capacity, source) VALUES "
            "('A', 'A St', 40.7, -73.9, 2, 'test'), ('B', 'B St', 40.7, -73.9, NULL, 'test')"
        )
        await write_events(conn, 0, [Ev(n, "end", "A", n).row() for n in range(1, 4)] + [Ev(9, "end", "B", 1).row()])
        rows = {r["station_id"]: r for r in await conn.fetch("SELECT * FROM availability")}
        assert (rows["A"]["bikes"], rows["A"]["capacity"], rows["A"]["docks"], rows["A"]["over_capacity"]) == (
            3,
            2,
            0,
            True,
        )
        assert (rows["B"]["capacity"], rows["B"]["docks"], rows["B"]["over_capacity"]) == (None, None, False)
        assert await conn.fetchval("SELECT street FROM location WHERE station_id = 'A'") == "A St"
        docks = await conn.fetch("SELECT docks FROM availability_history WHERE station_id = 'A' ORDER BY event_time")
        assert [r["docks"] for r in docks] == [1, 0, 0]
    finally:
        await conn.close()


async def test_listeners_hear_the_batch_id_after_commit(fresh_database: str) -> None:
    listener = await asyncpg.connect(fresh_database)
    writer = await asyncpg.connect(fresh_database)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
        await write_events(writer, 7, [Ev(10, "end", "C", 1).row()])
        assert await asyncio.wait_for(heard.get(), timeout=10) == "7"
        await write_events(writer, 8, [Ev(10, "end", "C", 1).row()])  # nothing new: no push
        await write_events(writer, 9, [Ev(11, "end", "C", 2).row()])
        assert await asyncio.wait_for(heard.get(), timeout=10) == "9"
    finally:
        await listener.close()
        await writer.close()


AWKWARD = ['Broadway & W 60 St, "Columbus Circle"', "line\nbreak", "", "Åsgårdstraße ✓", "back\\slash", "a,b;c"]


async def test_an_arrow_batch_is_staged_exactly_like_tuples(fresh_database: str) -> None:
    """The sink stages Spark's Arrow table as CSV written by Arrow; text with quotes, commas, newlines,
    backslashes and non-ASCII, empty strings against NULLs, times and doubles arrive as the tuples do."""
    rows = []
    for n, text in enumerate(AWKWARD):
        row = list(Ev(100 + n, "end", f"S{n}", n, f"b{n}" if n % 2 else None, "" if n == 2 else None).row())
        row[5], row[6], row[7] = text, 40.712345678901234 + n / 7, -73.98765432109876
        rows.append((*row[:11], "t", 0, n, 0))
    columns = [
        "event_id", "event_time", "kind", "bike_id", "station_id", "street", "lat", "lon", "trip_id",
        "rideable_type", "count", "topic", "partition", "offset", "frame_index",
    ]  # fmt: skip
    table = pa.table({c: [str(r[i]) if c == "event_id" else r[i] for r in rows] for i, c in enumerate(columns)})
    table = table.set_column(1, "event_time", table.column("event_time").cast(pa.timestamp("us", tz="UTC")))
    tables = "SELECT * FROM records ORDER BY event_id", "SELECT * FROM location ORDER BY station_id"
    seen = []
    for name, batch in (("tuples", rows), ("arrow", table)):
        conn = await asyncpg.connect(fresh_database)
        try:
            await conn.execute("TRUNCATE records, location, availability, availability_history, bike_events CASCADE")
            await conn.execute("TRUNCATE frequency, sink_batches")
            assert (await write_events(conn, 0, batch)).inserted == len(rows), name
            seen.append([[tuple(r) for r in await conn.fetch(q)] for q in tables])
        finally:
            await conn.close()
    assert seen[0] == seen[1]
    assert [r[1] for r in seen[1][1]] == AWKWARD  # location.street, in station order S0..S5
    assert {r[9] for r in seen[1][0]} == {None, ""}  # rideable_type: NULL and the empty string kept apart
