"""Adapters to the outside world. Each is injected through a constructor and has a local default."""
