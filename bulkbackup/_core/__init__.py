"""The vocabulary: the field and status tables, the typed operations and events, errors, cron. No I/O."""
