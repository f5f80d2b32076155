"""Fixtures of the export tests live in export_fixtures.py (a uniquely named module, so that
the tests can import its helpers next to other folders' conftest.py files)."""

from export_fixtures import session  # noqa: F401
