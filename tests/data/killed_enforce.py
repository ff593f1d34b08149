"""An enforce run that kills itself with SIGKILL after a create's POST was answered, before its outcome was
written, for tests/test_enforce.py.

usage: python killed_enforce.py ENDPOINT POLICY.toml JOURNAL.jsonl DATABASE_UUID   (token in COOLIFY_TOKEN)
"""

import os
import signal
import sys

import bulkbackup as bb
from bulkbackup._engine.journal import Journal

endpoint, policy, journal, target = sys.argv[1:5]
real_write = Journal._write


def write(self, record, *, sync=False):
    if record["record"] == "outcome" and record.get("database_uuid") == target and record.get("backup_uuid") == "":
        os.kill(os.getpid(), signal.SIGKILL)  # the POST went out and was answered; its outcome is not on disk
    real_write(self, record, sync=sync)


Journal._write = write
with bb.Client(endpoint, os.environ["COOLIFY_TOKEN"]) as client:
    plan = bb.enforce(bb.Policy.from_toml(policy), client)
    bb.apply(plan, client, progress=False, workers=1, journal=journal)
sys.exit(3)  # never reached when the kill happened
