"""A DSN that cannot be used is reported without its password: a DSN that does not
parse (a password with an unencoded space, ``/`` or ``@``) is not quoted at all, and
one that parses but cannot connect is named by its host, port, database and user."""

from __future__ import annotations

import socket

import pytest

from orderkit.adapters.postgres import PostgresOrderRepository
from orderkit.model.errors import StoreError

#: DSNs whose passwords (``my secret``, ``s3cr/etpw``, ``s3c@retpw``) are not
#: percent-encoded: libpq cannot parse them, or parses pieces of the password into the
#: host, port or database name.
UNPARSED = [
    "postgresql://orderkit:my secret@127.0.0.1:5432/postgres",
    "host=127.0.0.1 port=5432 user=orderkit password=my secret dbname=postgres",
    "postgresql://orderkit:s3cr/etpw@127.0.0.1:5432/postgres",
    "postgresql://orderkit:s3c@retpw@127.0.0.1:5432/postgres",
]
SECRETS = ("secret", "s3cr", "etpw", "retpw")


def _closed_port() -> int:
    """A port nothing listens on once the probe is closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize("dsn", UNPARSED)
def test_a_dsn_that_does_not_parse_is_not_quoted(dsn: str) -> None:
    with pytest.raises(StoreError) as caught:
        PostgresOrderRepository(dsn)
    assert caught.value.reason == (
        "the DSN could not be parsed (not shown: it may hold a password);"
        " percent-encode special characters"
    )
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__
    assert not any(secret in str(caught.value) for secret in SECRETS)


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    # libpq's reason holds no password: it is kept, and the driver error chained
    ("connect_timeout=5", "Connection refused", "s3cret-pw"),
    # the password is also the value libpq quotes when it refuses the sslmode: dropped
    ("sslmode=s3cret-pw", "reason not shown", "s3cret-pw"),
])
def test_a_dsn_that_cannot_connect_is_named_by_host_port_database_and_user(
    query: str, shown: str, hidden: str
) -> None:
    port = _closed_port()
    with pytest.raises(StoreError) as caught:
        PostgresOrderRepository(f"postgresql://shop:s3cret-pw@127.0.0.1:{port}/shopdb?{query}")
    text = str(caught.value)
    assert f"to host=127.0.0.1 port={port} dbname=shopdb user=shop: " in text
    assert shown in text
    assert hidden not in text
    assert (caught.value.__cause__ is None) == (shown == "reason not shown")
