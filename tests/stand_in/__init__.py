"""Tiny programs that stand in for hireflow's components in tests of ``make run``'s supervision."""
