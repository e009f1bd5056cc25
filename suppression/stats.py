"""Statistics (CONTRACT §10): suppressions created and lifted per day, campaign, topic, source
bucket, reason or the person's answer to "why are you leaving?", and the review desk's days.

Everything is read from counts the database keeps as it writes (`daily_changes`, migrations 14 and 17),
never from the rows of the list: an answer costs the same at ten thousand suppressions as at ten
million, and names no address. Dates are UTC days, both ends included.
"""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from suppression.aside import aside
from suppression.errors import InvalidValue
from suppression.model import utc_iso
from suppression.store import Store

BY = ("day", "campaign", "topic", "source", "reason", "why")
# The buckets a change's source is counted in (docs/stats.md): a fixed set, whatever the log
# holds; the desk's decisions ("desk", and "email:123" in the log before migration 18) are
# "email", bounces and complaints read from mail are their own.
SOURCE_BUCKETS = ("one-click", "link", "email", "bounce", "complaint", "api", "cli", "import", "other")
MAX_DAYS = 1100  # about three years in one answer
DEFAULT_DAYS = 30  # when `from` is not given: the 30 days up to `to`
DASHBOARD_DAYS = 90
TOP_CAMPAIGNS = 10
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class StatsRow:
    key: str | None  # None: no campaign, all emails (by topic), no answer (by why)
    created: int
    lifted: int
    sent: int | None = None  # by campaign, once recorded
    rate: float | None = None  # created / sent, when sent is more than 0

    def as_dict(self) -> dict:
        row = {"key": self.key, "created": self.created, "lifted": self.lifted}
        if self.sent is not None:
            row["sent"] = self.sent
            if self.rate is not None:
                row["rate"] = self.rate
        return row


@dataclass(frozen=True)
class StatsReport:
    first: date
    last: date
    by: str
    rows: list[StatsRow]

    def as_dict(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "by": self.by,
                "rows": [row.as_dict() for row in self.rows]}


@dataclass(frozen=True)
class DeskDay:
    day: str
    received: int  # messages put before a person that came that day
    settled: int  # settled by a person that day
    overdue: int  # waiting past their due time at the day's end


@dataclass(frozen=True)
class Dashboard:
    first: date
    last: date
    days: list[str]
    by_source: dict[str, dict[str, int]]  # day -> source bucket -> created
    sources: list[str]  # the buckets with anything in the range, in SOURCE_BUCKETS order
    campaigns: list[StatsRow]  # the highest rates first
    reasons: list[StatsRow]  # the answers people chose, most first
    desk: list[DeskDay] = field(default_factory=list)


FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)  # what `from` and `to` may name


def day_of(text: str | None, name: str) -> date | None:
    """A YYYY-MM-DD parameter as a date (None if not given); InvalidValue otherwise."""
    if text is None:
        return None
    if not _DAY.fullmatch(text):
        raise InvalidValue(f"`{name}` must be a date as YYYY-MM-DD (UTC)")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidValue(f"`{name}` is not a date of the calendar: {text}") from None
    # The range's other end and the day after it are reckoned from it: near year 1 or 9999
    # they fell off the calendar (OverflowError, a 500).
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidValue(f"`{name}` must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def stats_range(first: date | None, last: date | None, today: date) -> tuple[date, date]:
    """The days asked for: `to` defaults to today, `from` to DEFAULT_DAYS before it; at most MAX_DAYS."""
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidValue("`from` must not be after `to`")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidValue(f"at most {MAX_DAYS} days in one answer: ask for a shorter range")
    return first, last


def _key(stored: str) -> str | None:
    return stored if stored != "" else None


def _rate(created: int, sent: int | None) -> float | None:
    return round(created / sent, 6) if sent else None


class Statistics:
    """Reads the counts of one store; `clock` gives now (UTC), for "today" and the desk's overdue."""

    def __init__(self, store: Store, due_hours: float, clock: Callable[[], datetime] | None = None):
        self.store = store
        self.due_hours = due_hours
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        # Changes logged since start, by anyone (this process, the CLI, another instance): (action, source) -> count.
        self._change_counts: Counter[tuple[str, str]] = Counter()
        self._counted_to = 0

    def count_changes_after(self, change_id: int) -> None:
        """Count, for change_counts, the changes logged after this one (the index's at start-up)."""
        self._counted_to = change_id

    async def change_counts(self) -> Counter[tuple[str, str]]:
        """How many changes of each (action, source) were logged since this process started,
        whoever wrote them: one grouped read of the new part of the log, when metrics are scraped."""
        rows = await self.store.change_counts_after(self._counted_to)
        for action, source, count, newest in rows:
            self._change_counts[action, source] += count
            self._counted_to = max(self._counted_to, newest)
        return self._change_counts

    def today(self) -> date:
        return self.clock().astimezone(timezone.utc).date()

    async def report(self, first: str | None, last: str | None, by: str | None) -> StatsReport:
        """Counts per bucket of `by` (default: day) from `first` to `last` (YYYY-MM-DD); InvalidValue
        for anything else."""
        by = "day" if by is None else by
        if by not in BY:
            raise InvalidValue(f"`by` must be one of: {', '.join(BY)}")
        start, end = stats_range(day_of(first, "from"), day_of(last, "to"), self.today())
        if by == "campaign":
            rows = await self.campaigns(start, end)
        elif by == "day":
            counted = {key: (c, l) for key, c, l in await self.store.daily_counts(*_days(start, end), ("day",))}
            rows = [StatsRow(day, *counted.get(day, (0, 0))) for day in _each_day(start, end)]
        else:
            found = await self.store.daily_counts(*_days(start, end), (by,))
            rows = sorted((StatsRow(_key(key), created, lifted) for key, created, lifted in found),
                          key=lambda r: (-r.created, -r.lifted, r.key or ""))
        return StatsReport(start, end, by, rows)

    async def campaigns(self, start: date, end: date) -> list[StatsRow]:
        """Each campaign's counts (and sent, rate) in the range; suppressions without a campaign last, as key None."""
        found = await self.store.campaign_counts(*_days(start, end), (end + timedelta(days=1)).isoformat())
        return await aside(found, _campaign_rows)  # as many as campaigns were named: any number

    async def dashboard(self) -> Dashboard:
        """What /admin/stats shows: the last DASHBOARD_DAYS days up to today."""
        end = self.today()
        start = end - timedelta(days=DASHBOARD_DAYS - 1)
        days = _each_day(start, end)
        by_source: dict[str, dict[str, int]] = {day: {} for day in days}
        for day, source, created, _ in await self.store.daily_counts(*_days(start, end), ("day", "source")):
            if created:
                by_source[day][source] = by_source[day].get(source, 0) + created
        used = {source for counts in by_source.values() for source in counts}
        sources = [s for s in SOURCE_BUCKETS if s in used] + sorted(used - set(SOURCE_BUCKETS))
        campaigns = await aside(await self.campaigns(start, end), _top_rated)
        reasons = [StatsRow(key, created, lifted) for key, created, lifted
                   in await self.store.daily_counts(*_days(start, end), ("why",)) if key and created]
        reasons.sort(key=lambda r: (-r.created, r.key))
        return Dashboard(start, end, days, by_source, sources, campaigns, reasons, await self.desk_days(start, end))

    async def desk_days(self, start: date, end: date) -> list[DeskDay]:
        bounds = []
        for day in _each_day(start, end):
            day_end = date.fromisoformat(day) + timedelta(days=1)
            midnight = datetime.combine(day_end, time(0), tzinfo=timezone.utc)
            bounds.append((day, day_end.isoformat(), utc_iso(midnight - timedelta(hours=self.due_hours))))
        return [DeskDay(*row) for row in await self.store.desk_days(bounds)]


def _campaign_rows(found: list) -> list[StatsRow]:
    rows = [StatsRow(_key(key), created, lifted, sent, _rate(created, sent)) for key, created, lifted, sent in found]
    return sorted(rows, key=lambda r: (r.key is None, -r.created, r.key or ""))


def _top_rated(rows: list[StatsRow]) -> list[StatsRow]:
    rated = [row for row in rows if row.rate is not None]
    return sorted(rated, key=lambda r: (-r.rate, -r.created, r.key))[:TOP_CAMPAIGNS]


def _days(start: date, end: date) -> tuple[str, str]:
    return start.isoformat(), end.isoformat()


def _each_day(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
