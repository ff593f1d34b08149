"""Simulated `DatabaseBackupJob`s: what `backup_now` dispatches (API-RULES §2, "backup_now").

- The job holds `WithoutOverlapping('database-backup-{id}')->dontRelease()`: a trigger that arrives while a
  job for the same configuration runs is dropped silently, and is not counted as started.
- The job ignores `enabled`.
- If the database's status is not `running*` the job returns at once, without an execution row (lines
  125-134). Such a job still counts as started: it was dispatched, took the lock and ran.
- Otherwise it creates one `running` execution per database it dumps and, `delay` seconds later, marks them
  `success` with a filename and a size. A config with save_s3 but no S3 storage gets the server's warning and
  is switched to save_s3=false (API-RULES §6.1).
The executions are created when the PATCH is answered (a real queue adds a little latency first).
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time

from bulkbackup.sandbox._fleet import (
    BackupConfig,
    Execution,
    Fleet,
    backup_database_names,
    finish_execution,
    make_execution,
)
from bulkbackup.sandbox._shapes import laravel_timestamp

S3_MISSING_WARNING = (
    "Warning: S3 upload failed: S3 storage configuration is missing or has been deleted (S3 storage ID: null). "
    "S3 backup has been disabled for this schedule."
)
_PUBLIC_ID = "abcdefghijklmnopqrstuvwxyz0123456789"


class BackupJobs:
    def __init__(self, fleet: Fleet, lock: threading.Lock, delay: float, seed: int):
        self.fleet = fleet
        self.delay = delay
        self.started: dict[str, int] = {}
        self._changed = threading.Condition(lock)
        self._running: dict[int, list[Execution]] = {}  # config id → the running job's executions
        self._due: list[tuple[float, int, BackupConfig]] = []
        self._order = itertools.count()
        self._rng = random.Random(f"jobs-{seed}")
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sandbox-backup-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def dispatch(self, config: BackupConfig) -> bool:
        """Run a job for `config` (the caller holds the lock). False when WithoutOverlapping dropped it."""
        if config.id in self._running:
            return False
        self.started[config.uuid] = self.started.get(config.uuid, 0) + 1
        if not config.database.is_running:
            return True
        now = int(time.time())
        executions = []
        for name in backup_database_names(config):
            uuid = "".join(self._rng.choices(_PUBLIC_ID, k=24))
            executions.append(
                make_execution(
                    self.fleet.next_execution_id,
                    uuid,
                    config,
                    now,
                    failed=False,
                    finished=None,
                    rng=self._rng,
                    name=name,
                )
            )
            self.fleet.next_execution_id += 1
        config.executions.extend(executions)
        if executions and "last_execution_at" in config.columns:
            # 4.3.18+: creating an execution stamps the configuration, which also moves its updated_at.
            stamp = executions[-1].columns["created_at"]
            config.columns["last_execution_at"] = stamp
            config.columns["updated_at"] = stamp
        self._running[config.id] = executions
        heapq.heappush(self._due, (time.monotonic() + self.delay, next(self._order), config))
        self._changed.notify_all()
        return True

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def _run(self) -> None:
        with self._changed:
            while not self._stopping:
                if not self._due:
                    self._changed.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                _, _, config = heapq.heappop(self._due)
                self._finish(config)
                self._changed.notify_all()

    def _finish(self, config: BackupConfig) -> None:
        now = int(time.time())
        columns = config.columns
        for execution in self._running.pop(config.id, []):
            finish_execution(execution, config, now, failed=False, rng=self._rng)
            if columns["save_s3"] and columns["s3_storage_id"] is None:
                message = execution.columns["message"]
                execution.columns["message"] = f"{message}\n{S3_MISSING_WARNING}" if message else S3_MISSING_WARNING
                execution.columns["s3_uploaded"] = False
        if columns["save_s3"] and columns["s3_storage_id"] is None:
            columns["save_s3"] = False
            columns["updated_at"] = laravel_timestamp(now)
