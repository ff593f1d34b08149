"""When backups start, as numbers and as a picture, and a way to spread them out.

    bb.schedule_counts(fleet)                 # average starts per week: weekday (rows) × hour (columns)
    bb.schedule_map(fleet, plan)              # heat maps now and after the plan, side by side
    changes = bb.stagger(fleet[fleet.database_type == "standalone-postgresql"], between="01:00", and_="05:00")

Most fleets start every backup at midnight. The counts come from each configuration's frequency fired exactly as
the server's scheduler fires it (`firing.py`), for enabled configurations only, averaged over `weeks` weeks so
that monthly and yearly schedules count for what they are. Times are the server's wall clock (its timezone).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bulkbackup._core.columns import INSTANCE
from bulkbackup._core.cron import is_valid_frequency
from bulkbackup._core.errors import BulkBackupError, InputError
from bulkbackup._core.fields import KEY_COLUMNS, is_missing, read_bool
from bulkbackup._core.firing import UnschedulableError, compile_frequency
from bulkbackup._display.styling import kind

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS = tuple(range(24))
_TIME = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


def schedule_counts(
    frame: pd.DataFrame,
    changes: Any = None,
    *,
    start: dt.datetime | dt.date | None = None,
    weeks: int = 52,
) -> pd.DataFrame:
    """Average backup starts per week by weekday (index Mon…Sun) and hour (columns 0…23).

    `frame` holds the configurations: an inventory (edited or not) or any frame with `frequency` and, optionally,
    `enabled` (a missing value counts as enabled). `changes`, when given, is applied on top first: a plan frame
    (its payloads) or a changes frame such as `stagger()`'s, matched on database_uuid and backup_uuid (and on the
    instance, when both have an `instance` column: uuids repeat across instances). A plan frame
    given as `frame` stands for the configurations it reschedules, as they are now (its `before` values);
    `schedule_counts(plan, plan)` counts them as the plan leaves them.

    The counts are taken over `weeks` whole weeks from the day of `start` (default: this week's Monday) and
    divided by `weeks`.
    `attrs` tells how many configurations were counted, how many are disabled, and which frequencies the
    scheduler cannot fire (`unschedulable`: {frequency: configurations}).
    """
    table = _configurations(frame)
    if changes is not None:
        table = _with_changes(table, changes)
    first = _monday(start)
    weeks = int(weeks)
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    days = [first + dt.timedelta(days=offset) for offset in range(weeks * 7)]
    starts = np.zeros((7, 24))
    by_days: dict[tuple, np.ndarray] = {}
    enabled = table[table["enabled"]]
    unschedulable: Counter[str] = Counter()
    for frequency, configurations in Counter(enabled["frequency"]).items():
        try:
            firing = compile_frequency(frequency)
        except UnschedulableError:
            unschedulable[frequency] += configurations
            continue
        # Whole days are counted, so a day that fires adds its minutes to each of its hours: no minute loop. Which
        # days fire depends on the date fields only, which most frequencies of a fleet share.
        signature = (firing.days, firing.months, firing.weekdays, firing.day_or)
        days_firing = by_days.get(signature)
        if days_firing is None:
            days_firing = by_days[signature] = np.zeros(7)
            for day in days:
                if firing.fires_on(day):
                    days_firing[day.weekday()] += 1
        hours = np.zeros(24)
        hours[sorted(firing.hours)] = len(firing.minutes) * configurations
        starts += np.outer(days_firing, hours)
    counts = pd.DataFrame(starts / weeks, index=list(WEEKDAYS), columns=list(HOURS))
    counts.index.name, counts.columns.name = "weekday", "hour"
    counts.attrs.update(
        configurations=len(enabled) - sum(unschedulable.values()),
        disabled=int((~table["enabled"]).sum()),
        unschedulable=dict(unschedulable),
        start=first.isoformat(),
        weeks=weeks,
    )
    return counts


def schedule_map(
    frame: pd.DataFrame,
    changes: Any = None,
    *,
    start: dt.datetime | dt.date | None = None,
    weeks: int = 52,
) -> Figure:
    """Draw when backups start: a heat map per weekday and hour, and the starts per hour of an average day.

    With `changes` (a plan or a changes frame, as for `schedule_counts`) or with a plan frame alone, "now" and
    "after" are drawn side by side on one colour scale. Returns the matplotlib Figure (`fig.savefig("map.png")`);
    in a notebook it shows as the cell's result. Needs matplotlib (`pip install "bulkbackup[notebook]"`).
    """
    import matplotlib.pyplot as plt  # here, not at import: `import bulkbackup` stays free of matplotlib

    sides = [("now", schedule_counts(frame, start=start, weeks=weeks))]
    after = changes if changes is not None else (frame if kind(frame) == "plan" else None)
    if after is not None:
        sides.append(("after", schedule_counts(frame, after, start=start, weeks=weeks)))
    if kind(frame) == "plan":
        # A plan knows only what it changes: enabled is taken as true where it does not send it.
        sides = [(f"{label}, the rows this plan reschedules", counts) for label, counts in sides]
    top = max(float(counts.to_numpy().max()) for _, counts in sides) or 1.0
    figure = plt.figure(figsize=(7.5 * len(sides), 5.6), layout="constrained")
    plt.close(figure)  # shown once, as the returned value, not again by the inline backend
    grid = figure.add_gridspec(2, len(sides), height_ratios=(3, 2))
    image = None
    for column, (label, counts) in enumerate(sides):
        week = figure.add_subplot(grid[0, column])
        image = week.imshow(counts.to_numpy(), aspect="auto", cmap="YlOrRd", vmin=0, vmax=top)
        week.set_yticks(range(7), WEEKDAYS)
        week.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        week.set_title(_title(label, counts), fontsize=10)
        for (row, hour), value in pd.DataFrame(counts.to_numpy()).stack().items():
            if value >= 0.05:
                week.text(
                    hour,
                    row,
                    _number(value),
                    ha="center",
                    va="center",
                    fontsize=6.5,
                    color="white" if value > top * 0.6 else "black",
                )
        day = figure.add_subplot(grid[1, column])
        per_day = counts.sum(axis=0) / 7
        day.bar(list(HOURS), per_day.to_numpy(), color="#c0392b", width=0.8)
        day.set_xticks(range(0, 24, 2), [f"{h:02d}:00" for h in range(0, 24, 2)], fontsize=7)
        day.set_xlim(-0.6, 23.6)
        day.set_ylabel("starts per day")
        day.set_xlabel("hour of the day (server time)")
        day.grid(axis="y", alpha=0.3)
    figure.colorbar(image, ax=figure.axes[0::2], label="backup starts per week", shrink=0.9)
    figure.suptitle("When backups start", fontsize=12)
    return figure


def stagger(
    frame: pd.DataFrame,
    between: str = "01:00",
    and_: str = "05:00",
    *,
    every: str = "day",
    step: int | None = None,
) -> pd.DataFrame:
    """Spread the configurations of `frame` over the window [between, and_) and return a changes frame.

    Each configuration gets its own start time, `every` "day" (`17 2 * * *`) or "week" (also spread over the
    seven weekdays: `17 2 * * 3`). The window may cross midnight ("23:00" to "03:00"). Start times are `step`
    minutes apart, or, without a step, as far apart as the window allows; when there are more configurations
    than slots, slots are shared evenly. The order is deterministic: by backup_uuid, so staggering the same
    configurations again gives the same frequencies (and a plan with nothing to change).

    Returns database_uuid, backup_uuid and frequency, with `frame`'s index: `bb.plan(changes, client)` takes it.
    Rows of several instances (an `instance` column) are spread over the window per instance, since each server
    runs its own backups, and the changes keep the `instance` column, first, for `bb.plan(changes, clients)`.
    """
    missing = [c for c in KEY_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"stagger needs the column {missing[0]!r} (pass inventory rows)", column=missing[0])
    begin, finish = _minute_of_day("between", between), _minute_of_day("and_", and_)
    length = (finish - begin) % 1440
    if length == 0:
        raise InputError(f"between {between!r} and and_ {and_!r} is an empty window", column="and_", value=and_)
    if every not in ("day", "week"):
        raise InputError(f"every must be 'day' or 'week', not {every!r}", column="every", value=every)
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 1):
        raise InputError(f"step must be a whole number of minutes ≥ 1, not {step!r}", column="step", value=step)
    backups = [str(b) for b in frame[KEY_COLUMNS[1]].tolist()]
    instances = frame[INSTANCE].tolist() if INSTANCE in frame.columns else [None] * len(frame)
    groups: dict[object, list[int]] = {}
    for position, instance in enumerate(instances):
        groups.setdefault(instance, []).append(position)
    days = 7 if every == "week" else 1
    slots = length if step is None else max(1, -(-length // step))
    frequencies = [""] * len(frame)
    for positions in groups.values():  # each instance's own window: its server runs only its own backups
        order = sorted(positions, key=lambda i: (backups[i], i))
        per_day = -(-len(order) // days)  # configurations sharing one day's window
        for rank, position in enumerate(order):
            weekday, index_in_day = rank % days, rank // days
            if step is None:
                offset = (index_in_day * length) // max(per_day, 1)
            else:
                offset = (index_in_day % slots) * step
            minute = (begin + offset) % 1440
            cron = f"{minute % 60} {minute // 60} * * " + (str(weekday) if every == "week" else "*")
            if not is_valid_frequency(cron):  # pragma: no cover - the construction above only makes valid ones
                raise BulkBackupError(f"stagger made {cron!r}, which the server would refuse")
            frequencies[position] = cron
    columns = {INSTANCE: instances} if INSTANCE in frame.columns else {}
    columns.update(
        {
            KEY_COLUMNS[0]: frame[KEY_COLUMNS[0]].astype(str).to_numpy(),
            KEY_COLUMNS[1]: frame[KEY_COLUMNS[1]].astype(str).to_numpy(),
            "frequency": frequencies,
        }
    )
    return pd.DataFrame(columns, index=frame.index)


# ---------------------------------------------------------------------------------------------------------------


def _configurations(frame: pd.DataFrame) -> pd.DataFrame:
    """database_uuid, backup_uuid, frequency, enabled: one row per configuration with a known frequency."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a DataFrame (an inventory or a plan), not {type(frame).__name__}")
    if kind(frame) == "plan":
        rows = []
        for record in frame.to_dict("records"):
            before = _json(record.get("before"))
            if "frequency" in before:
                rows.append(
                    {
                        INSTANCE: record.get(INSTANCE),
                        KEY_COLUMNS[0]: record[KEY_COLUMNS[0]],
                        KEY_COLUMNS[1]: record[KEY_COLUMNS[1]],
                        "frequency": before["frequency"],
                        "enabled": before.get("enabled", True),
                    }
                )
        table = pd.DataFrame(rows, columns=[INSTANCE, *KEY_COLUMNS, "frequency", "enabled"])
    else:
        if "frequency" not in frame.columns:
            raise InputError("schedule_counts needs a 'frequency' column (pass an inventory or a plan)")
        table = pd.DataFrame(
            {
                INSTANCE: frame[INSTANCE] if INSTANCE in frame.columns else None,
                KEY_COLUMNS[0]: frame[KEY_COLUMNS[0]] if KEY_COLUMNS[0] in frame.columns else None,
                KEY_COLUMNS[1]: frame[KEY_COLUMNS[1]] if KEY_COLUMNS[1] in frame.columns else None,
                "frequency": frame["frequency"],
                "enabled": frame["enabled"] if "enabled" in frame.columns else True,
            }
        )
        table = table[[not is_missing(f) for f in table["frequency"]]]
    table = table.reset_index(drop=True)
    table["frequency"] = table["frequency"].astype(str)
    table["enabled"] = [_enabled(v) for v in table["enabled"]]
    return table


def _with_changes(table: pd.DataFrame, changes: Any) -> pd.DataFrame:
    table = table.copy()
    if isinstance(changes, pd.DataFrame) and kind(changes) == "plan":
        records = [r for r in changes.to_dict("records") if r.get("action") == "update"]
        updates = [(r.get(INSTANCE), r[KEY_COLUMNS[0]], r[KEY_COLUMNS[1]], _json(r.get("payload"))) for r in records]
    else:
        from bulkbackup._input.changes import read_changes

        normalised = read_changes(changes)
        updates = []
        for r in normalised.to_dict("records"):
            if r.get("errors"):
                continue
            wanted = {n: r[n] for n in ("frequency", "enabled") if n in r and not is_missing(r[n])}
            updates.append((r.get(INSTANCE), r[KEY_COLUMNS[0]], r[KEY_COLUMNS[1]], wanted))
    # By instance too when both sides name it (uuids repeat across instances); else by the uuids alone.
    by_instance = table[INSTANCE].notna().any() and any(not is_missing(u[0]) for u in updates)
    instances = table[INSTANCE].tolist() if by_instance else [None] * len(table)
    position: dict[tuple, list[int]] = {}
    for i, key in enumerate(zip(instances, table[KEY_COLUMNS[0]], table[KEY_COLUMNS[1]], strict=True)):
        position.setdefault((key[0], str(key[1]), str(key[2])), []).append(i)
    for instance, database_uuid, backup_uuid, wanted in updates:
        for i in position.get((instance if by_instance else None, str(database_uuid), str(backup_uuid)), []):
            if "frequency" in wanted:
                table.at[i, "frequency"] = str(wanted["frequency"])
            if "enabled" in wanted:
                table.at[i, "enabled"] = bool(wanted["enabled"])
    return table


def _json(text: object) -> dict:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _enabled(value: object) -> bool:
    if is_missing(value):
        return True  # unknown: a configuration is enabled unless it says otherwise (the server's default)
    try:
        return read_bool(value)
    except ValueError:
        return True


def _monday(start: dt.datetime | dt.date | None) -> dt.date:
    """The first day counted (whole days): `start`'s day, or this week's Monday."""
    if isinstance(start, dt.datetime):
        return start.date()
    if isinstance(start, dt.date):
        return start
    today = dt.date.today()
    return today - dt.timedelta(days=today.weekday())


def _minute_of_day(name: str, text: object) -> int:
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InputError(f"{name} {text!r} is not a time of day: write HH:MM, e.g. '01:00'", column=name, value=text)
    return int(match.group(1)) * 60 + int(match.group(2))


def _title(label: str, counts: pd.DataFrame) -> str:
    total = counts.to_numpy().sum()
    text = f"{label}: {counts.attrs['configurations']:,} enabled configurations, {_number(total)} starts a week"
    if total:
        weekday, hour = counts.stack().idxmax()
        text += f"\nbusiest hour: {weekday} {hour:02d}:00 ({_number(counts.at[weekday, hour])} starts)"
    never = sum(counts.attrs["unschedulable"].values())
    if never:
        text += f"\n{never} with a frequency the scheduler never fires"
    return text


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 0.05 else f"{value:.1f}"
