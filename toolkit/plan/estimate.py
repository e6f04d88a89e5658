"""What a plan will cost: time per job from a throughput model, money from a price table.

Time. Each job the toolkit runs records its wall time and input bytes in its Analysis' provenance
(``meta.provenance.run``). The project's earlier Analyses of the same spec give a throughput model:
``seconds = fixed + bytes / bytes_per_second``, fitted by least squares when the runs cover different input
sizes, else the median rate. Without earlier runs, the spec's optional ``estimate:`` hint is used; without
either, the estimate is "unknown" (never a made-up number).

Money. The Hail Batch service bills cores x hours: a job's cores are its cpu, raised to what its memory needs
(3.75 GiB per core on standard workers), rounded up to a power of two, at least 0.25; plus its storage. The
rates come from ``[toolkit.prices]`` in the cpg-utils config, else the defaults below, which say where they come
from and when they were read. Local runs cost nothing; the plan still shows what the same jobs would cost on
the service, labelled as such.
"""

from __future__ import annotations

import math
import statistics
from array import array
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

__all__ = [
    "DEFAULT_PRICES",
    "Estimate",
    "PlanEstimator",
    "PriceTable",
    "Throughput",
    "billed_cores",
    "estimate_job",
    "fit_throughput",
    "format_duration",
]

GIB = 1024**3

# Hail Batch service, GCP. Spot: the all-in core-hour of the Batch docs' "Billing" section (compute $0.01,
# boot and local SSD $0.001685, IP $0.00025, service fee $0.01 per core-hour on 16-core preemptible n1-standard
# workers). On demand: GCP's n1-standard on-demand price per vCPU-hour with 3.75 GB (us-central1, $0.0475)
# plus the same disk, IP and service parts. Extra storage: pd-ssd at $0.17 per GB-month.
DEFAULT_PRICES: dict[str, Any] = {
    "currency": "USD",
    "spot_core_hour": 0.021935,
    "on_demand_core_hour": 0.059435,
    "storage_gib_hour": 0.17 / (365.25 / 12 * 24),
    "memory_gib_per_core": 3.75,
    "source": "hail.is/docs/batch/service.html#billing (hail-is/hail@0d03de7f); "
    "cloud.google.com/compute/vm-instance-pricing n1-standard us-central1; pd-ssd $0.17/GB-month",
    "read_on": "2026-11-30",
}


@dataclass(frozen=True)
class PriceTable:
    spot_core_hour: float
    on_demand_core_hour: float
    storage_gib_hour: float
    memory_gib_per_core: float
    currency: str
    source: str
    read_on: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> "PriceTable":
        table = {**DEFAULT_PRICES, **dict(((config or {}).get("toolkit") or {}).get("prices") or {})}
        return cls(
            spot_core_hour=float(table["spot_core_hour"]),
            on_demand_core_hour=float(table["on_demand_core_hour"]),
            storage_gib_hour=float(table["storage_gib_hour"]),
            memory_gib_per_core=float(table["memory_gib_per_core"]),
            currency=str(table["currency"]),
            source=str(table["source"]),
            read_on=str(table["read_on"]),
        )


def billed_cores(cpu: float, memory_bytes: int, memory_gib_per_core: float = 3.75) -> float:
    """Cores the Batch service reserves (and bills) for a job: memory can raise them; powers of two, >= 0.25."""
    wanted = max(float(cpu), memory_bytes / GIB / memory_gib_per_core, 0.25)
    return 2 ** math.ceil(math.log2(wanted))


@dataclass(frozen=True)
class Throughput:
    """seconds = fixed_seconds + bytes / bytes_per_second, and what it is based on."""

    bytes_per_second: float | None
    fixed_seconds: float
    runs: int
    source: str  # "earlier runs" | "spec estimate"

    def seconds_for(self, input_bytes: int | None) -> float | None:
        if self.bytes_per_second is None:
            return self.fixed_seconds if self.fixed_seconds > 0 else None
        if input_bytes is None:
            return None
        return self.fixed_seconds + input_bytes / self.bytes_per_second

    def describe(self) -> str:
        rate = "?" if self.bytes_per_second is None else f"{format_bytes(self.bytes_per_second)}/s"
        fixed = f" + {self.fixed_seconds:.0f} s per job" if self.fixed_seconds >= 0.5 else ""
        if self.source == "earlier runs":
            return f"{rate}{fixed}, learnt from {self.runs} earlier run{'s' if self.runs != 1 else ''}"
        return f"{rate}{fixed}, from the spec's estimate hint"


def fit_throughput(samples: Iterable[tuple[int, float]]) -> Throughput | None:
    """A model from (input bytes, wall seconds) of earlier jobs; None without any usable sample."""
    points = [(float(b), float(s)) for b, s in samples if b and b > 0 and s and s > 0]
    if not points:
        return None
    sizes = [b for b, _ in points]
    if len(points) >= 3 and max(sizes) > 1.5 * min(sizes):
        mean_b = statistics.fmean(sizes)
        mean_s = statistics.fmean(s for _, s in points)
        spread = sum((b - mean_b) ** 2 for b in sizes)
        slope = sum((b - mean_b) * (s - mean_s) for b, s in points) / spread
        if slope > 0:
            fixed = max(0.0, mean_s - slope * mean_b)
            return Throughput(1 / slope, fixed, len(points), "earlier runs")
    rate = statistics.median(b / s for b, s in points)
    return Throughput(rate, 0.0, len(points), "earlier runs")


@dataclass
class Estimate:
    seconds: float | None
    cores: float
    spot_cost: float | None
    on_demand_cost: float | None

    def record(self) -> dict[str, Any]:
        return {
            "seconds": None if self.seconds is None else round(self.seconds, 1),
            "billed_cores": self.cores,
            "spot_cost": None if self.spot_cost is None else round(self.spot_cost, 6),
            "on_demand_cost": None if self.on_demand_cost is None else round(self.on_demand_cost, 6),
        }


def estimate_job(
    *, cpu: float, memory_bytes: int, storage_bytes: int, input_bytes: int | None,
    throughput: Throughput | None, prices: PriceTable,
) -> Estimate:
    cores = billed_cores(cpu, memory_bytes, prices.memory_gib_per_core)
    seconds = throughput.seconds_for(input_bytes) if throughput else None
    if seconds is None:
        return Estimate(None, cores, None, None)
    hours = seconds / 3600
    storage = storage_bytes / GIB * hours * prices.storage_gib_hour
    return Estimate(
        seconds, cores, cores * hours * prices.spot_core_hour + storage, cores * hours * prices.on_demand_core_hour + storage
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours, rest = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{hours / 24:.1f} days"


def format_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


class PlanEstimator:
    """Time and cost per job to run, and in total (toolkit.plan.estimate): throughput learnt from the spec's
    earlier runs in this project (each Analysis records its job's wall time and input bytes), else the spec's
    ``estimate:`` hint (``spec``: a JobSpec), else unknown. Jobs (toolkit.plan.model.PlannedJob) are added one
    at a time, as a spooled plan makes them."""

    def __init__(self, spec, analyses: list[dict[str, Any]], prices: PriceTable) -> None:
        samples = []
        seen_runs: set[tuple] = set()
        for analysis in analyses:
            run = ((analysis.get("meta") or {}).get("provenance") or {}).get("run")
            if not isinstance(run, dict):
                continue
            identity = (run.get("job"), run.get("finished"))
            if identity in seen_runs:
                continue  # one job registers several outputs: one sample
            seen_runs.add(identity)
            size, seconds = run.get("input_bytes"), run.get("wall_seconds")
            if isinstance(size, (int, float)) and isinstance(seconds, (int, float)):
                samples.append((int(size), float(seconds)))
        model = fit_throughput(samples)
        if model is None and spec.estimate is not None:
            model = Throughput(spec.estimate.bytes_per_second, spec.estimate.seconds_per_job, 0, "spec estimate")
        self.model, self.prices = model, prices
        self._start()

    def _start(self) -> None:
        self.jobs, self.unknown = 0, 0
        # Each job's figures, summed at the end with math.fsum: exact, so the totals do not depend on the order
        # the jobs were added in (a large plan is made in two processes, toolkit.plan, and joined).
        self._seconds: array = array("d")
        self._spot: array = array("d")
        self._on_demand: array = array("d")

    def part(self) -> PlanEstimator:
        """An estimator with this one's model and prices and no jobs yet: for a share of the plan's jobs made
        elsewhere (another process), whose :meth:`tally` this one then :meth:`absorb`\ s."""
        part = object.__new__(PlanEstimator)
        part.model, part.prices = self.model, self.prices
        part._start()
        return part

    def tally(self) -> tuple:
        """What :meth:`absorb` takes: the jobs counted and each one's figures."""
        return self.jobs, self.unknown, self._seconds, self._spot, self._on_demand

    def absorb(self, tally: tuple) -> None:
        jobs, unknown, seconds, spot, on_demand = tally
        self.jobs += jobs
        self.unknown += unknown
        self._seconds.extend(seconds)
        self._spot.extend(spot)
        self._on_demand.extend(on_demand)

    def add(self, job) -> None:
        """Estimate a job to run (others cost nothing) and count it in the totals."""
        from toolkit.plan.model import Action

        if job.action is not Action.RUN:
            return
        estimate = estimate_job(
            cpu=job.resources.cpu, memory_bytes=job.resources.memory_bytes, storage_bytes=job.resources.storage_bytes,
            input_bytes=job.unit.total_read_bytes, throughput=self.model, prices=self.prices,
        )
        job.estimate = estimate
        self.jobs += 1
        if estimate.seconds is None:
            self.unknown += 1
            return
        self._seconds.append(estimate.seconds)
        self._spot.append(estimate.spot_cost or 0.0)
        self._on_demand.append(estimate.on_demand_cost or 0.0)

    def totals(self) -> dict[str, Any]:
        known = self.jobs and self.unknown < self.jobs
        prices = self.prices
        return {
            "jobs": self.jobs,
            "jobs_unknown": self.unknown,
            "seconds": round(math.fsum(self._seconds), 1) if known else None,
            "spot_cost": round(math.fsum(self._spot), 4) if known else None,
            "on_demand_cost": round(math.fsum(self._on_demand), 4) if known else None,
            "currency": prices.currency,
            "model": self.model.describe() if self.model else None,
            "prices": {"source": prices.source, "read_on": prices.read_on, "spot_core_hour": prices.spot_core_hour,
                       "on_demand_core_hour": prices.on_demand_core_hour},
        }
