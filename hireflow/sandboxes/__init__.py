"""Local stand-ins for outside services that really run: a payment API and a mail capture.

They speak the real services' wire protocols, keep state in SQLite and inject faults on
request, so adapters and workers are exercised over real HTTP.
"""
