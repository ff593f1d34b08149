"""Changes frames built from a sandbox's fleet, shared by the tests of the run's seam and its journal."""

from __future__ import annotations

import bulkbackup as bb


def fleet_changes(client, n, **settings):
    fleet = bb.inventory(client).head(n).reset_index(drop=True)
    frame = fleet[["database_uuid", "backup_uuid"]].copy()
    for name, value in settings.items():
        frame[name] = value
    return frame
