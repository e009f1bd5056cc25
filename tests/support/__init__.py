"""Helpers the tests import: settings and configs on either store, a service as a process, the
CLI in a subprocess or in-process, clients of the HTTP API, reads from outside the service,
throwaway PostgreSQL and Dovecot servers. `tests/conftest.py` holds only fixtures and hooks
(and re-exports these names for the tests that still import them from there)."""
