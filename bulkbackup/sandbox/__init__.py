"""A local server that behaves like the Coolify API for database-backup endpoints (coolify/API-RULES.md).

    from bulkbackup.sandbox import Sandbox
    with Sandbox(databases=40, seed=0) as sandbox:
        sandbox.endpoint, sandbox.token     # "http://127.0.0.1:PORT/api/v1", "1|…"

Where API-RULES is silent, the sandbox chooses (and its tests pin down):
- The API switch starts on (a fresh Coolify starts with it off); `set_api_enabled(False)` turns it off.
- `backup_now` on a database that is not running starts a job that returns at once without an execution (the
  real job's early return); it counts in `job_count`. Running jobs succeed after `job_delay` seconds.
- Faults touch PATCH only; 503 and 429 come before any processing, 500, 502, drop and latency after it
  (see `faults`).
- Proxy answers (502, 503, an unparsable request) are text/plain without Laravel's headers; paths outside
  /api get a plain 404 page instead of the web UI.
- `member_token` belongs to a non-admin member: the team middleware stops it (403 "Missing required team role."),
  which is also why the policy's 403 of step 7 cannot be reached through the API.
- The JSON `errors` of a 422 list fields in bulkbackup._core.fields' order, not in the order of the server's rule
  array; removeUnnecessaryFieldsFromRequest drops the 19 keys that could be verified (API-RULES counts 45).
- A value beyond its column (an integer above 2^31-1, a storage size of 10^10 GB or more) is a 500
  "Server Error", as PostgreSQL's error would be; nothing is changed.

Modules: `server` (Sandbox, serve), `api` (the request pipeline), `laravel` (PHP/Laravel value semantics and
messages), `limiter` (the fixed-window throttle), `fleet` (seeded data), `shapes` (JSON shapes), `model`
(how a row takes an update), `jobs` (simulated backup jobs), `auth` (tokens), `faults` (injected failures).
"""

from bulkbackup.sandbox.faults import parse_fault
from bulkbackup.sandbox.server import PortUnavailable, Sandbox, Sandboxes, serve

__all__ = ["PortUnavailable", "Sandbox", "Sandboxes", "parse_fault", "serve"]
