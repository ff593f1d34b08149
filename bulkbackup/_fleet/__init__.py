"""Looking at the fleet as a whole: schedules (and, next, health and policy)."""
