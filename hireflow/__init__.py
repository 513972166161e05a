"""hireflow: recruiting marketplace processes on Camunda 8 (Zeebe)."""
