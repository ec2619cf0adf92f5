"""The chaos runner's plan and report: which kinds of process are killed, when (from the seed), and
the table it prints afterwards."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from devstack.chaos_checks import Verdict
from devstack.chaos_probes import Progress
from devstack.supervisor import Incident

KINDS = ("producer", "enricher", "spark_driver", "spark_worker", "web", "broker", "postgres")


@dataclass
class Kill:
    kind: str
    planned_s: float
    pause_s: float
    target: str = ""
    killed_s: float | None = None
    at_s: float | None = None
    note: str = ""
    incident: Incident | None = None
    before: Progress | None = None
    flowing_s: float | None = None

    def row(self) -> str:
        inc = self.incident
        ready = None if inc is None or inc.ready_at is None else inc.ready_at - inc.died_at
        flowing = None if self.flowing_s is None or self.killed_s is None else self.flowing_s - self.killed_s
        return (
            f"  {self.kind:<13}{self.target:<15}"
            f"{'-' if self.at_s is None else f'{self.at_s:6.1f}s':>7} {self.pause_s:5.1f}s "
            f"{'-' if ready is None else f'{ready:6.1f}s':>8} {'-' if flowing is None else f'{flowing:6.1f}s':>8}  "
            f"{self.note}"
        )


@dataclass
class ChaosReport:
    seed: int
    events: int
    kills: list[Kill] = field(default_factory=list)
    verdict: Verdict | None = None
    duration_s: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"chaos: seed {self.seed}, {self.events} events, {len(self.kills)} kills, {self.duration_s:.0f}s, "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            "  kind         target          killed  pause    ready  flowing",
            "  (killed: seconds into the replay; ready, flowing: seconds after the kill)",
            *(k.row() for k in self.kills),
        ]
        if self.verdict is not None:
            out += [f"  {name}: {result}" for name, result in {**self.verdict.checks, **self.verdict.serving}.items()]
            out.append(self.verdict.last_line())
        return out


def plan(seed: int, kills: int, replay_s: float) -> list[Kill]:
    """Every kind once (in a seeded order), then random kinds; random moments and pauses."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    rng.shuffle(kinds)
    kinds = (kinds + [rng.choice(KINDS) for _ in range(max(0, kills - len(KINDS)))])[:kills]
    planned = []
    for kind in kinds:
        # The producer is killed early (and first: kills wait for each other), while it surely still replays.
        low, high = (0.05, 0.3) if kind == "producer" else (0.3, 0.9)
        planned.append(Kill(kind, rng.uniform(low, high) * replay_s, round(rng.uniform(2.0, 6.0), 1)))
    return sorted(planned, key=lambda k: (k.kind != "producer", k.planned_s))
