"""A local server that behaves like the Coolify API for database-backup endpoints (coolify/API-RULES.md).

    from bulkbackup.sandbox import Sandbox
    with Sandbox(databases=40, seed=0) as sandbox:
        sandbox.endpoint, sandbox.token     # "http://127.0.0.1:PORT/api/v1", "1|…"

    with Sandbox.many(3, seed=[0, 0, 1], rate_limit=[50, 50, 200]) as sandboxes:
        production, staging, eu = sandboxes # three instances; the first two share uuids
        sandboxes.cli_config(path)          # a coolify-cli config file, one context (name) per instance

Where API-RULES is silent, the sandbox chooses (and its tests pin down):
- The API switch starts on (a fresh Coolify starts with it off); `set_api_enabled(False)` turns it off.
- `backup_now` on a database that is not running starts a job that returns at once without an execution (the
  real job's early return); it counts in `job_count`. Running jobs succeed after `job_delay` seconds.
- Faults touch PATCH, POST and DELETE; 503 and 429 come before any processing, 500, 502, drop and latency after
  it (see `_faults`), so a 502 can answer a POST that created its configuration.
- Proxy answers (502, 503, an unparsable request) are text/plain without Laravel's headers; paths outside
  /api get a plain 404 page instead of the web UI.
- `member_token` belongs to a non-admin member: the team middleware stops it (403 "Missing required team role."),
  which is also why the policy's 403 of step 7 cannot be reached through the API.
- The JSON `errors` of a 422 list fields in the order of the sandbox's rules table (`_rules`, the order bulkbackup
  lists its settings), not in the order of the server's rule array; removeUnnecessaryFieldsFromRequest drops the
  19 keys that could be verified (API-RULES counts 45).
- The sandbox transcribes the server's rules itself (`_rules`, `_cron`) and imports nothing of the client, so a
  wrong bound in the client cannot pass on both sides (tests/test_sandbox_rules_pinned.py holds them together).
- GET /s3-storages/{uuid} of an unknown storage: 404 "Storage not found." (API-RULES does not quote it).
- A value beyond its column (an integer above 2^31-1, a storage size of 10^10 GB or more) is a 500
  "Server Error", as PostgreSQL's error would be; nothing is changed.

The public surface is this package's `__all__`; every module is private: `_server` (Sandbox, Sandboxes),
`_serve` (serve), `_transport` (HTTP), `_api` (routing, middleware, reads), `_writes` (PATCH, POST, DELETE),
`_http` (requests and answers), `_rules` and `_cron` (the server's rules as API-RULES states them), `_laravel`
(PHP/Laravel value semantics and messages), `_limiter` (the fixed-window throttle), `_fleet` (the data model) and
`_seed` (seeding it), `_shapes` (JSON shapes), `_model` (how a row takes an update), `_jobs` (simulated backup
jobs), `_auth` (tokens), `_faults` (injected failures).
"""

from bulkbackup.sandbox._faults import parse_fault
from bulkbackup.sandbox._serve import serve
from bulkbackup.sandbox._server import PortUnavailable, Sandbox, Sandboxes

__all__ = ["PortUnavailable", "Sandbox", "Sandboxes", "parse_fault", "serve"]
