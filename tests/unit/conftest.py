"""Unit tests run without a database: a test here that asks for a warehouse fixture is misfiled."""

import pytest

DATABASE_FIXTURES = {"warehouse", "empty_warehouse", "sql", "pg_admin_url", "template_db"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/unit/" in str(item.fspath).replace("\\", "/"):
            used = DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
            if used:
                raise pytest.UsageError(f"{item.nodeid} is a unit test but uses {sorted(used)}: "
                                        "move it to tests/integration")
