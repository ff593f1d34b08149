"""Talking to Coolify: the client, its transport, answers, credentials, limiter and retries."""
