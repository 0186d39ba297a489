"""The embedded simulation on the in-memory twins, and the capacity planner built on it."""
