"""HOOK for the opening stock: the bikes standing at each station before the replay's first trip.

The model (`services/producer/opening_stock.py`, owned by the availability work) is an accumulator
fed every event in event-time order; its `events()` are the STOCK events, published before the trips
when `BIKESHARE_OPENING_STOCK=true`. Until that module exists, enabling the setting stops the run
with a message instead of silently publishing no stock.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from shared.events import TripEvent


class OpeningStockMissing(RuntimeError):
    """BIKESHARE_OPENING_STOCK is on but the opening-stock model is not installed."""


def stock_events(events: Iterable[TripEvent]) -> list[TripEvent]:
    try:
        module = importlib.import_module("services.producer.opening_stock")
    except ModuleNotFoundError as exc:
        raise OpeningStockMissing(
            "BIKESHARE_OPENING_STOCK=true needs services/producer/opening_stock.py (not in this build); unset it"
        ) from exc
    accumulator = module.OpeningStock()
    for event in events:
        accumulator.add(event)
    return list(accumulator.events())
