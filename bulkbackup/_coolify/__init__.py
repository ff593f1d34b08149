"""Talking to Coolify, one idea a module.

- `client`: the Client (send, attempt, the answers it reads, server version, from_env)
- `endpoint`: the address rules (normalising, loopback, the plain-http rule, the hop to a proxy)
- `transport`: the one seam every request goes through, production and tests; where the bytes go
- `masking`: the token masked in text, exceptions and the server's answers
- `answers`: reading an answer once (`read_answer` → `Answer`)
- `connection`: what to say about a request that got no answer, worded for Python or the CLI
- `resources`: the API's GETs (databases, projects, executions, storages, version)
- `credentials`, `cli_config`: finding the endpoint and token; coolify-cli's config file
- `connect`: `bb.connect()`
- `limiter`, `retry`, `state`, `doctor`: the pace, retries, reading the server's state, will a run work
"""
