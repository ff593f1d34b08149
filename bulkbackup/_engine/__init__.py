"""Plan, send, journal, undo: operations in, outcomes and results frames out."""
