"""A run over two instances that kills itself with SIGKILL at a chosen point of one row of one instance, for
tests/test_journal_kill.py.

usage: python killed_run_instances.py CHANGES.csv JOURNAL.jsonl POINT INSTANCE BACKUP_UUID NAME=ENDPOINT ...
(each instance's token in COOLIFY_TOKEN_<NAME>). POINT: before (the row's intent written, its request not sent),
after (the request answered, its outcome not yet written).
"""

import os
import signal
import sys

import bulkbackup as bb
from bulkbackup._engine.journal import Journal
from bulkbackup.events import RowSending

changes, journal, point, instance, target = sys.argv[1:6]
instances = dict(arg.split("=", 1) for arg in sys.argv[6:])


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


real_write = Journal._write


def write(self, record, *, sync=False):
    mine = record.get("instance") == instance and record.get("backup_uuid") == target
    if mine and point == "after" and record["record"] == "outcome":
        die()
    real_write(self, record, sync=sync)


def before(event):
    row = getattr(event, "row", None)
    if point == "before" and isinstance(event, RowSending) and (row.instance, row.backup_uuid) == (instance, target):
        die()


Journal._write = write
clients = [bb.Client(url, os.environ[f"COOLIFY_TOKEN_{name}"], name=name) for name, url in instances.items()]
bb.apply(changes, clients, progress=False, workers=1, journal=journal, listeners=[before])
sys.exit(3)  # never reached when the kill happened
