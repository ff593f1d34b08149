"""A run that kills itself with SIGKILL at a chosen point, for tests/test_journal_kill.py.

usage: python killed_run.py ENDPOINT CHANGES.csv JOURNAL.jsonl POINT BACKUP_UUID   (token in COOLIFY_TOKEN)
POINT: before (the row's intent is written, its request not sent), after (the request answered, its outcome not
yet written), mid-line (killed halfway through writing the row's intent).
"""

import json
import os
import signal
import sys

import bulkbackup as bb
from bulkbackup._engine.journal import Journal
from bulkbackup.events import RowSending

endpoint, changes, journal, point, target = sys.argv[1:6]


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


real_write = Journal._write


def write(self, record, *, sync=False):
    if record.get("backup_uuid") == target:
        if point == "after" and record["record"] == "outcome":
            die()
        if point == "mid-line" and record["record"] == "intent":
            text = (json.dumps(record) + "\n").encode()
            os.write(self._lock.fd, text[: len(text) // 2])
            die()
    real_write(self, record, sync=sync)


def before(event):
    if point == "before" and isinstance(event, RowSending) and event.row.backup_uuid == target:
        die()


Journal._write = write
with bb.Client(endpoint, os.environ["COOLIFY_TOKEN"]) as client:
    bb.apply(changes, client, progress=False, workers=1, journal=journal, listeners=[before])
sys.exit(3)  # never reached when the kill happened
