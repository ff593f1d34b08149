"""schedule_counts / schedule_map / stagger: when backups start, before and after a plan, and spreading them out."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pandas as pd
import pytest
from croniter import croniter

import bulkbackup as bb
from bulkbackup._core.cron import KEYWORDS
from bulkbackup._fleet.schedule import WEEKDAYS

MONDAY = dt.date(2026, 3, 2)


def _frame(rows):
    return pd.DataFrame(
        [
            {"database_uuid": f"d{i}", "backup_uuid": f"b{i}", "frequency": f, "enabled": e}
            for i, (f, e) in enumerate(rows)
        ]
    )


def test_counts_per_weekday_and_hour():
    frame = _frame(
        [
            ("daily", True),
            ("0 0 * * *", True),
            ("@daily", True),
            ("30 2 * * 1-5", True),
            ("weekly", True),
            ("hourly", True),
            ("monthly", True),  # no 1st of the month in the week counted
            ("daily", False),  # disabled: the scheduler skips it
            ("*/05 * * * *", True),  # stored, but dragonmantank refuses the step
        ]
    )
    counts = bb.schedule_counts(frame, start=MONDAY, weeks=1)
    expected = pd.DataFrame(1.0, index=list(WEEKDAYS), columns=list(range(24)))  # hourly
    expected[0] += 3  # three spellings of daily
    expected.loc[["Mon", "Tue", "Wed", "Thu", "Fri"], 2] += 1
    expected.loc["Sun", 0] += 1  # weekly: Sunday 00:00
    assert counts.to_numpy().tolist() == expected.to_numpy().tolist()
    assert list(counts.index) == list(WEEKDAYS) and list(counts.columns) == list(range(24))
    assert counts.attrs["configurations"] == 7
    assert counts.attrs["disabled"] == 1
    assert counts.attrs["unschedulable"] == {"*/05 * * * *": 1}


def test_monthly_and_yearly_count_as_averages_over_the_weeks():
    counts = bb.schedule_counts(_frame([("monthly", True), ("0 0 1 1 *", True)]), start=dt.date(2026, 1, 5), weeks=52)
    # 5 Jan 2026 .. 4 Jan 2027: the 1st of Feb..Dec 2026 and of Jan 2027 for monthly, 1 Jan 2027 for yearly.
    assert counts.to_numpy().sum() * 52 == pytest.approx(12 + 1)
    firsts = Counter(dt.date(2026 + (m > 12), (m - 1) % 12 + 1, 1).strftime("%a") for m in range(2, 14))
    firsts["Fri"] += 1  # 1 Jan 2027, yearly
    assert {d: round(counts.at[d, 0] * 52) for d in WEEKDAYS if counts.at[d, 0]} == dict(firsts)


def test_counts_agree_with_croniter_on_the_sandbox_fleet(client):
    fleet = bb.inventory(client)
    counts = bb.schedule_counts(fleet, start=MONDAY, weeks=4)
    expected = pd.DataFrame(0.0, index=list(WEEKDAYS), columns=list(range(24)))
    start, end = dt.datetime.combine(MONDAY, dt.time()), dt.datetime.combine(MONDAY, dt.time()) + dt.timedelta(weeks=4)
    for frequency in fleet.loc[fleet["enabled"].astype(bool), "frequency"]:
        it = croniter(KEYWORDS.get(frequency, frequency), start - dt.timedelta(minutes=1))
        while (moment := it.get_next(dt.datetime)) < end:
            expected.iat[moment.weekday(), moment.hour] += 1 / 4
    assert counts.round(9).equals(expected.round(9))
    assert counts.to_numpy().sum() > 0


def test_before_and_after_a_plan_match_the_server_after_apply(client):
    fleet = bb.inventory(client)
    postgres = fleet[fleet["database_type"] == "standalone-postgresql"]
    changes = bb.stagger(postgres, between="01:00", and_="05:00")
    plan = bb.plan(changes, client)
    after_plan = bb.schedule_counts(fleet, plan, start=MONDAY, weeks=2)
    after_changes = bb.schedule_counts(fleet, changes, start=MONDAY, weeks=2)
    pd.testing.assert_frame_equal(after_plan, after_changes)
    before = bb.schedule_counts(fleet, start=MONDAY, weeks=2)
    assert not before.equals(after_plan)

    results = bb.apply(plan, client, progress=False)
    assert set(results["status"]) <= {"updated", "unchanged"}
    on_server = bb.schedule_counts(bb.inventory(client), start=MONDAY, weeks=2)
    pd.testing.assert_frame_equal(on_server, after_plan)

    # Staggered again, the same configurations get the same times: nothing left to change.
    again = bb.plan(bb.stagger(bb.inventory(client).loc[postgres.index], between="01:00", and_="05:00"), client)
    assert set(again["action"]) == {"unchanged"}


def test_a_plan_alone_stands_for_the_rows_it_reschedules(client):
    fleet = bb.inventory(client)
    chosen = fleet[fleet["enabled"].astype(bool)].head(5)
    plan = bb.plan(bb.stagger(chosen, between="02:00", and_="03:00"), client)
    assert (plan["action"] == "update").all()
    before, after = (
        bb.schedule_counts(plan, start=MONDAY, weeks=1),
        bb.schedule_counts(plan, plan, start=MONDAY, weeks=1),
    )
    assert before.attrs["configurations"] == after.attrs["configurations"] == 5
    assert after.to_numpy().sum() == 5 * 7 and after[2].sum() == 5 * 7  # daily, all in the 02:00 hour
    assert before.equals(bb.schedule_counts(chosen, start=MONDAY, weeks=1))


def test_schedule_map_draws_before_and_after(client, tmp_path):
    fleet = bb.inventory(client)
    plan = bb.plan(bb.stagger(fleet, between="23:00", and_="03:00"), client)
    figure = bb.schedule_map(fleet, plan, start=MONDAY, weeks=4)
    titles = [axis.get_title() for axis in figure.axes]
    assert titles[0].startswith("now: ") and titles[2].startswith("after: ")
    enabled = int(fleet["enabled"].astype(bool).sum())
    assert f"{enabled:,} enabled configurations" in titles[0]
    heat = figure.axes[0].images[0].get_array()
    assert heat.shape == (7, 24)
    assert heat.tolist() == bb.schedule_counts(fleet, start=MONDAY, weeks=4).to_numpy().tolist()
    path = tmp_path / "schedule.png"
    figure.savefig(path, dpi=80)
    assert path.stat().st_size > 10_000

    single = bb.schedule_map(fleet, start=MONDAY, weeks=1)
    assert len([a for a in single.axes if a.images]) == 1
    alone = bb.schedule_map(plan, start=MONDAY, weeks=1)
    assert "the rows this plan reschedules" in alone.axes[0].get_title()


def test_stagger_spreads_evenly_and_deterministically():
    frame = pd.DataFrame({"database_uuid": "db", "backup_uuid": [f"b{i:02d}" for i in range(24)], "x": range(24)})
    changes = bb.stagger(frame, between="01:00", and_="05:00")
    assert list(changes.columns) == ["database_uuid", "backup_uuid", "frequency"]
    assert changes.index.equals(frame.index)
    minutes = [int(f.split()[1]) * 60 + int(f.split()[0]) for f in changes["frequency"]]
    assert minutes == [60 + 10 * i for i in range(24)]  # 240 minutes / 24 configurations, in backup_uuid order
    assert all(f.endswith(" * * *") and bb.is_valid_frequency(f) for f in changes["frequency"])

    shuffled = frame.sample(frac=1, random_state=3)
    again = bb.stagger(shuffled, between="01:00", and_="05:00")
    assert (
        again.set_index("backup_uuid")["frequency"].to_dict() == changes.set_index("backup_uuid")["frequency"].to_dict()
    )


def test_stagger_across_midnight_with_a_step_and_weekly():
    frame = pd.DataFrame({"database_uuid": "db", "backup_uuid": [f"b{i}" for i in range(10)]})
    changes = bb.stagger(frame, between="23:00", and_="03:00", step=30)
    assert list(changes["frequency"]) == [
        "0 23 * * *", "30 23 * * *", "0 0 * * *", "30 0 * * *", "0 1 * * *",
        "30 1 * * *", "0 2 * * *", "30 2 * * *", "0 23 * * *", "30 23 * * *",
    ]  # fmt: skip
    weekly = bb.stagger(frame, between="02:00", and_="04:00", every="week")
    days = [f.split()[4] for f in weekly["frequency"]]
    assert Counter(days) == Counter({"0": 2, "1": 2, "2": 2, "3": 1, "4": 1, "5": 1, "6": 1})
    assert all(bb.is_valid_frequency(f) for f in weekly["frequency"])
    assert bb.stagger(frame.head(0)).empty


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"between": "25:00"}, "'25:00'"),
        ({"between": "1am"}, "'1am'"),
        ({"and_": "03:60"}, "'03:60'"),
        ({"and_": None}, "None"),
        ({"between": "02:00", "and_": "02:00"}, "empty window"),
        ({"every": "month"}, "'month'"),
        ({"step": 0}, "step"),
    ],
)
def test_stagger_bad_input_is_a_clear_error(kwargs, named):
    frame = pd.DataFrame({"database_uuid": ["d"], "backup_uuid": ["b"]})
    with pytest.raises(bb.InputError, match=named.replace("(", r"\(")) as error:
        bb.stagger(frame, **kwargs)
    assert "\n" not in str(error.value)


def test_stagger_needs_the_key_columns():
    with pytest.raises(bb.InputError, match="backup_uuid"):
        bb.stagger(pd.DataFrame({"database_uuid": ["d"]}))
