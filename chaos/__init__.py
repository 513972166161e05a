"""Chaos scenarios: the whole product under faults, and a checker that counts what went wrong."""
