"""``OrderRepository`` and ``OutboxStore`` on PostgreSQL: one row per order (the order
as canonical JSON text), its audit entries, address versions and outbox messages, all
written in the transaction that saves the order.

**Reading the outbox in commit order.** Transactions commit in an order that sequence
numbers cannot show: a message numbered 7 may commit after message 8 was already read,
and a relay that remembered "delivered up to 8" would pass over 7 forever. So each
message keeps a *position*: the id of the transaction that wrote it
(``pg_current_xact_id()``), raised when needed to the position of the order's previous
message, so that one order's messages keep the order of its saves. :meth:`pending`
returns only messages whose position lies below the oldest transaction still running
(``pg_snapshot_xmin(pg_current_snapshot())``): every transaction with such an id has
finished, and every transaction still to write one gets a larger id. The pending
messages a reader sees are therefore always a prefix of every later reading, in
``(position, seq)`` order: a message that commits late was never passed over, it
simply is not returned before the transactions around it end. No high-water mark is
kept; a delivered message leaves the ``pending`` partial index.

The price: a transaction that holds a transaction id open for long (anywhere in the
cluster) holds the relay back until it ends; ``oldest_pending`` shows the wait.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from orderkit.adapters.postgres._db import Database, unique_violation, utc
from orderkit.model._checks import quantity, stored_key
from orderkit.model.audit import (
    AddressVersion,
    AuditEntry,
    address_version,
    checked_entries,
)
from orderkit.model.errors import (
    ConcurrencyError,
    DuplicateOrder,
    OrderNotFound,
    StoreError,
)
from orderkit.model.orders import (
    Address,
    Anchor,
    Order,
    PaymentTerms,
    check_version_raised,
)
from orderkit.model.serialization import from_dict, to_dict
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware

if TYPE_CHECKING:
    import psycopg

    from orderkit.lifecycle.ports import FirstScan, GroupBy
    from orderkit.outbox.messages import Consumer, OutboxMessage, StoredMessage

__all__ = ["PostgresOrderRepository"]

MIGRATIONS: Final = (
    """
    CREATE TABLE {s}.orders (
        order_id text PRIMARY KEY,
        channel text NOT NULL,
        channel_order_id text NOT NULL,
        status integer NOT NULL,
        version bigint NOT NULL,
        ship_to text NOT NULL,
        body text NOT NULL,
        CONSTRAINT orders_by_channel UNIQUE (channel, channel_order_id)
    );
    CREATE INDEX orders_by_status ON {s}.orders (status);
    CREATE TABLE {s}.order_audit (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        order_id text NOT NULL,
        body text NOT NULL
    );
    CREATE INDEX order_audit_by_order ON {s}.order_audit (order_id, seq);
    CREATE TABLE {s}.order_addresses (
        order_id text NOT NULL,
        version bigint NOT NULL,
        body text NOT NULL,
        PRIMARY KEY (order_id, version)
    );
    CREATE TABLE {s}.order_outbox (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        position bigint NOT NULL,
        message_id text NOT NULL UNIQUE,
        order_id text NOT NULL,
        topic text NOT NULL,
        payload text NOT NULL,
        created_at timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        error text NOT NULL DEFAULT '',
        retry_at timestamptz,
        delivered_at timestamptz
    );
    CREATE INDEX order_outbox_pending ON {s}.order_outbox (position, seq)
        WHERE status = 'pending';
    CREATE INDEX order_outbox_dead ON {s}.order_outbox (position, seq) WHERE status = 'dead';
    CREATE INDEX order_outbox_by_order ON {s}.order_outbox (order_id, position)
    """,
    # The watch's instants and the carriers' waybills, kept beside the order by every
    # save (and filled here from the orders stored before), each read through an index.
    """
    ALTER TABLE {s}.orders
        ADD COLUMN status_since timestamptz,
        ADD COLUMN paid_at timestamptz,
        ADD COLUMN created_at timestamptz,
        ADD COLUMN unscanned_since timestamptz,
        ADD COLUMN first_shipped_at timestamptz;
    UPDATE {s}.orders SET
        status_since = (body::jsonb ->> 'status_since')::timestamptz,
        paid_at = (body::jsonb ->> 'paid_at')::timestamptz,
        created_at = (body::jsonb ->> 'created_at')::timestamptz,
        unscanned_since = CASE
            WHEN body::jsonb -> 'shipments' -> -1 ->> 'first_scan_at' IS NULL
            THEN (body::jsonb -> 'shipments' -> -1 ->> 'shipped_at')::timestamptz END,
        first_shipped_at = (body::jsonb -> 'shipments' -> 0 ->> 'shipped_at')::timestamptz;
    CREATE INDEX orders_by_status_since ON {s}.orders (status, status_since);
    CREATE INDEX orders_by_paid_at ON {s}.orders (status, paid_at);
    CREATE INDEX orders_by_created_at ON {s}.orders (status, created_at);
    CREATE INDEX orders_unscanned ON {s}.orders (unscanned_since)
        WHERE unscanned_since IS NOT NULL;
    CREATE INDEX orders_by_first_shipped ON {s}.orders (first_shipped_at)
        WHERE first_shipped_at IS NOT NULL;
    CREATE TABLE {s}.order_waybills (
        waybill text NOT NULL,
        order_id text NOT NULL,
        PRIMARY KEY (waybill, order_id)
    );
    INSERT INTO {s}.order_waybills (waybill, order_id)
        SELECT DISTINCT s ->> 'waybill', o.order_id
        FROM {s}.orders AS o, jsonb_array_elements(o.body::jsonb -> 'shipments') AS s
        WHERE coalesce(s ->> 'waybill', '') <> ''
        ON CONFLICT DO NOTHING
    """,
    # An order's time in its status runs from status_since, or from created_at while it
    # has never changed status (placed orders have no status_since).
    """
    DROP INDEX {s}.orders_by_status_since;
    CREATE INDEX orders_by_time_in_status ON {s}.orders
        (status, coalesce(status_since, created_at))
    """,
    # The after-sale instants are derived from the returns and the money (a refund still
    # due), which SQL cannot compute: every save writes them, each NULL unless the order
    # is in that after-sale state, and the orders stored before are filled in here.
    """
    ALTER TABLE {s}.orders
        ADD COLUMN return_requested_since timestamptz,
        ADD COLUMN refund_due_since timestamptz;
    CREATE INDEX orders_return_requested ON {s}.orders (return_requested_since)
        WHERE return_requested_since IS NOT NULL;
    CREATE INDEX orders_refund_due ON {s}.orders (refund_due_since)
        WHERE refund_due_since IS NOT NULL
    """,
    # Only orders with a return can have an after-sale instant.
    lambda db, conn: _fill(db, conn, "jsonb_array_length(body::jsonb -> 'returns') > 0",
                           ("return_requested_since", "refund_due_since")),
    # A partly shipped order's first parcel time (units still to ship after a parcel
    # left), derived by the model like the after-sale instants: written by every save,
    # NULL unless the order is partly shipped, filled here for the orders stored before.
    """
    ALTER TABLE {s}.orders ADD COLUMN partly_shipped_since timestamptz;
    CREATE INDEX orders_partly_shipped ON {s}.orders (partly_shipped_since)
        WHERE partly_shipped_since IS NOT NULL
    """,
    # Only orders with a line that may still have units to ship (the model decides).
    lambda db, conn: _fill(db, conn, "EXISTS (SELECT 1 FROM jsonb_array_elements("
                           "body::jsonb -> 'lines') AS l WHERE l -> 'quantities' -> 'open'"
                           " IS DISTINCT FROM '0'::jsonb)", ("partly_shipped_since",)),
    # When an order was paid, as the watch measures it: its paid_at, or, for an order
    # placed already paid without one, when it entered its status (the adapters'
    # ``paid_since``). Only the orders in a paid status without a paid_at may fall back.
    lambda db, conn: _fill_paid_at(db, conn),
    # An order whose last parcel never got a scan stays unscanned once delivered or
    # completed: the status leads the index, so the no-first-scan query reads the orders
    # that can still get a first scan, not all of history.
    """
    DROP INDEX {s}.orders_unscanned;
    CREATE INDEX orders_unscanned ON {s}.orders (status, unscanned_since)
        WHERE unscanned_since IS NOT NULL
    """,
    # When an order became due to ship (its paid instant, or a presale's ship-from day
    # when later) and, while a presale that took its deposit waits for its balance, when
    # the deposit came (the adapters' ``ship_due_at`` and ``balance_due_since``): written
    # by every save. Only a presale differs from its paid instant or has a balance due.
    """
    ALTER TABLE {s}.orders
        ADD COLUMN ship_due_at timestamptz,
        ADD COLUMN balance_due_since timestamptz;
    UPDATE {s}.orders SET ship_due_at = paid_at WHERE paid_at IS NOT NULL;
    CREATE INDEX orders_by_ship_due_at ON {s}.orders (status, ship_due_at)
        WHERE ship_due_at IS NOT NULL;
    CREATE INDEX orders_balance_due ON {s}.orders (balance_due_since)
        WHERE balance_due_since IS NOT NULL
    """,
    lambda db, conn: _fill(db, conn, "(body::jsonb -> 'tags') @> '[\"presale\"]'::jsonb",
                           ("ship_due_at", "balance_due_since")),
    # A relay reads each consumer's lane apart (``consumer``: computed from the topic,
    # as ``orderkit.outbox.messages.consumer_of`` does), and passes over the rows
    # waiting out a back-off and those behind them: the failed rows (few) have an index
    # of their own, by order and lane.
    """
    ALTER TABLE {s}.order_outbox ADD COLUMN consumer text GENERATED ALWAYS AS
        (CASE WHEN left(topic, 6) = 'event.' THEN 'sink' ELSE 'ledger' END) STORED;
    CREATE INDEX order_outbox_lane ON {s}.order_outbox (consumer, position, seq)
        WHERE status = 'pending';
    CREATE INDEX order_outbox_waiting ON {s}.order_outbox (order_id, consumer, position, seq)
        WHERE status = 'pending' AND retry_at IS NOT NULL
    """,
    # What caused each message: the input event's own time, the order version and the
    # message's place in its decision (NULL for the messages written before).
    """
    ALTER TABLE {s}.order_outbox
        ADD COLUMN occurred_at timestamptz,
        ADD COLUMN order_version bigint,
        ADD COLUMN message_index integer
    """,
    # The zone a presale's ship-from day begins in, which its ship_due_at was derived
    # in: the accounting zone every release before wrote, until a repository is given
    # another (``ship_from_tz``).
    """
    CREATE TABLE {s}.order_settings (name text PRIMARY KEY, value text NOT NULL);
    INSERT INTO {s}.order_settings (name, value) VALUES ('ship_from_tz', 'Asia/Shanghai')
    """,
    # The health page counts the open orders by their time in status, leaving out the
    # presales waiting for their balance and those not due to ship yet: the index on
    # the time in status carries both instants, so those counts can read it alone.
    """
    DROP INDEX {s}.orders_by_time_in_status;
    CREATE INDEX orders_by_time_in_status ON {s}.orders
        (status, coalesce(status_since, created_at)) INCLUDE (ship_due_at, balance_due_since)
    """,
    # The outbox's retention deletes what was delivered before a cut-off, earliest
    # first, a batch at a time: the delivered rows by when they were delivered.
    """
    CREATE INDEX order_outbox_delivered ON {s}.order_outbox (delivered_at)
        WHERE status = 'delivered'
    """,
)

#: The statement :meth:`PostgresOrderRepository.purge_delivered` runs: ``{s}`` stands
#: for the schema, the parameters are the cut-off and the batch size. Public so that a
#: test plans the very statement the adapter runs (it must read through
#: ``order_outbox_delivered``).
PURGE_DELIVERED: Final = (
    "DELETE FROM {s}.order_outbox WHERE seq IN (SELECT seq FROM {s}.order_outbox"
    " WHERE status = 'delivered' AND delivered_at < %s ORDER BY delivered_at LIMIT %s)"
)

#: The stored orders whose ``ship_due_at`` depends on the ship-from zone: presales
#: with a ``ship_from:`` tag (derived again when the schema's zone changes).
_PRESALES_WITH_A_DAY: Final = (
    "ship_due_at IS NOT NULL AND (body::jsonb -> 'tags') @> '[\"presale\"]'::jsonb"
    " AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(body::jsonb -> 'tags') AS t"
    " WHERE t LIKE 'ship_from:%')"
)

#: The indexed expression of each anchor of the watch's ``stale`` query
#: (``status_since`` falls back to ``created_at`` for an order that has never changed
#: status).
_ANCHOR_COLUMN: Final = {
    "status_since": "coalesce(status_since, created_at)",
    "paid_at": "paid_at",
    "created_at": "created_at",
    "unscanned_since": "unscanned_since",
    "return_requested_since": "return_requested_since",
    "refund_due_since": "refund_due_since",
    "partly_shipped_since": "partly_shipped_since",
    "ship_due_at": "ship_due_at",
    "balance_due_since": "balance_due_since",
}

#: The value of each group the watch groups stale orders by, computed in SQL as
#: :func:`orderkit.watch.rules.group_key` does (``"unknown"`` for none).
_GROUP_SQL: Final = {
    "channel": "channel",
    "carrier": "coalesce(nullif(body::jsonb -> 'shipments' -> -1 ->> 'carrier', ''), 'unknown')",
    "region": "coalesce(nullif(body::jsonb -> 'ship_to' ->> 'province', ''), 'unknown')",
}


def _stale_filter(terms: object, leave_out: object = ()) -> tuple[str, tuple[object, ...]]:
    """The stale query's condition on ``terms`` and ``leave_out`` (derived columns that
    must be empty) and its arguments."""
    from orderkit.adapters._watch import checked_leave_out, checked_terms

    kept = checked_terms(terms)
    condition = "".join(f" AND {column} IS NULL" for column in checked_leave_out(leave_out))
    if kept is None:
        return condition, ()
    # Orders stored before payment terms existed are prepaid.
    return (condition + " AND coalesce(body::jsonb ->> 'payment_terms', 'prepaid') = %s",
            (kept.value,))


_OUTBOX_COLUMNS: Final = (
    "message_id, order_id, topic, payload, created_at AT TIME ZONE 'UTC', status, attempts,"
    " error, retry_at AT TIME ZONE 'UTC', occurred_at AT TIME ZONE 'UTC', order_version,"
    " message_index"
)
#: The position of a new message: its transaction's id, or the position of the order's
#: latest message when that is higher (see the module docstring).
_POSITION: Final = (
    "greatest(pg_current_xact_id()::text::bigint,"
    " (SELECT max(position) FROM {s}.order_outbox WHERE order_id = %(order_id)s))"
)
_INSERT_MESSAGE: Final = (
    "INSERT INTO {s}.order_outbox"
    " (position, message_id, order_id, topic, payload, created_at, occurred_at,"
    " order_version, message_index)"
    f" VALUES ({_POSITION},"
    " %(message_id)s, %(order_id)s, %(topic)s, %(payload)s, %(created_at)s,"
    " %(occurred_at)s, %(order_version)s, %(message_index)s)"
)
#: The order row of a save that finds none: the first part of :data:`_SAVE_INSERT`.
_INSERT_ORDER: Final = (
    "INSERT INTO {s}.orders (order_id, channel, channel_order_id, status, version, ship_to,"
    " body, status_since, paid_at, created_at, unscanned_since, first_shipped_at,"
    " return_requested_since, refund_due_since, partly_shipped_since, ship_due_at,"
    " balance_due_since)"
    " SELECT %(order_id)s, %(channel)s, %(channel_order_id)s, %(status)s, %(version)s,"
    " %(ship_to)s, %(body)s, %(status_since)s, %(paid_at)s, %(created_at)s,"
    " %(unscanned_since)s, %(first_shipped_at)s, %(return_requested_since)s,"
    " %(refund_due_since)s, %(partly_shipped_since)s, %(ship_due_at)s,"
    " %(balance_due_since)s ON CONFLICT DO NOTHING RETURNING 1"
)
#: The order row of a save on top of a stored version: written only when the stored row
#: is what the save expects (its version, address and channel order).
_UPDATE_ORDER: Final = (
    "UPDATE {s}.orders SET channel = %(channel)s, channel_order_id = %(channel_order_id)s,"
    " status = %(status)s, version = %(version)s, ship_to = %(ship_to)s, body = %(body)s,"
    " status_since = %(status_since)s, paid_at = %(paid_at)s, created_at = %(created_at)s,"
    " unscanned_since = %(unscanned_since)s, first_shipped_at = %(first_shipped_at)s,"
    " return_requested_since = %(return_requested_since)s,"
    " refund_due_since = %(refund_due_since)s,"
    " partly_shipped_since = %(partly_shipped_since)s, ship_due_at = %(ship_due_at)s,"
    " balance_due_since = %(balance_due_since)s"
    " WHERE order_id = %(order_id)s AND version = %(expected)s"
    " AND ship_to = %(stored_ship_to)s AND channel = %(stored_channel)s"
    " AND channel_order_id = %(stored_channel_order_id)s RETURNING 1"
)
#: What a save writes beside the order row, each only when the row was written (``u``),
#: and what the stored row was when it was not: one statement, so a refused save writes
#: nothing. Audit entries and messages keep their given order (their ``seq``). A message
#: id stored already fails the statement on the unique index (no probe whose plan could
#: turn into a scan of the outbox), and the save says which one.
_SAVE_REST: Final = (
    " address AS (INSERT INTO {s}.order_addresses (order_id, version, body)"
    " SELECT %(order_id)s, %(version)s, b FROM u, unnest(%(addresses)b::text[]) AS b"
    " ON CONFLICT (order_id, version) DO UPDATE SET body = excluded.body),"
    " audit AS (INSERT INTO {s}.order_audit (order_id, body)"
    " SELECT %(order_id)s, a.b FROM u, unnest(%(audit)b::text[]) WITH ORDINALITY AS a(b, n)"
    " ORDER BY a.n),"
    " waybill AS (INSERT INTO {s}.order_waybills (waybill, order_id)"
    " SELECT w, %(order_id)s FROM u, unnest(%(waybills)b::text[]) AS w"
    " ON CONFLICT DO NOTHING),"
    " message AS (INSERT INTO {s}.order_outbox"
    " (position, message_id, order_id, topic, payload, created_at, occurred_at,"
    " order_version, message_index)"
    f" SELECT {_POSITION},"
    " m.id, %(order_id)s, m.topic, m.payload, m.at, m.occurred, m.version, m.index FROM u,"
    " unnest(%(ids)b::text[], %(topics)b::text[], %(payloads)b::text[],"
    " %(ats)b::timestamptz[], %(occurred)s::timestamptz[], %(versions)s::bigint[],"
    " %(indexes)s::integer[])"
    " WITH ORDINALITY AS m(id, topic, payload, at, occurred, version, index, n)"
    " ORDER BY m.n)"
    " SELECT (SELECT count(*) FROM u), o.version, o.ship_to, o.channel, o.channel_order_id"
    " FROM (SELECT) AS one LEFT JOIN {s}.orders AS o ON o.order_id = %(order_id)s"
)
_SAVE_INSERT: Final = f"WITH u AS ({_INSERT_ORDER}),{_SAVE_REST}"
_SAVE_UPDATE: Final = f"WITH u AS ({_UPDATE_ORDER}),{_SAVE_REST}"
#: How often a save runs its statement again after learning the stored row (an address
#: or channel order that changed, a concurrent writer that went first).
_SAVE_ATTEMPTS: Final = 3
#: Below the oldest transaction id still running: every writer of such a message ended.
_VISIBLE: Final = "o.position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
#: A pending row ``o`` a relay can deliver at an instant (both arguments): not waiting
#: out its back-off, and no earlier pending row of its order and consumer is.
_READY: Final = (
    " AND (o.retry_at IS NULL OR o.retry_at <= %s)"
    " AND NOT EXISTS (SELECT 1 FROM {s}.order_outbox AS w"
    " WHERE w.order_id = o.order_id AND w.consumer = o.consumer"
    " AND (w.position, w.seq) < (o.position, o.seq)"
    " AND w.status = 'pending' AND w.retry_at IS NOT NULL AND w.retry_at > %s)"
)


class PostgresOrderRepository:
    """Orders in PostgreSQL, for many processes on many machines.

    ``source`` is a DSN, a ``psycopg_pool.ConnectionPool``, the host's open
    ``psycopg.Connection`` (orderkit's writes then commit or roll back with the host's
    transaction) or another adapter's :attr:`database`. Tables live in the PostgreSQL
    schema ``schema`` and are created or migrated on first use.

    ``save`` is one statement: it updates the stored row only where its version is the
    expected one (and its address and channel order what the save takes them to be),
    and writes the audit entries, address version, waybills and outbox messages only
    when the row was written. Outside a block that statement is a transaction of its
    own (one round trip); of two writers saving on top of the same version exactly one
    wins. When the address or channel order changed, the statement reports the stored
    ones and runs again expecting them. It is also the
    :class:`~orderkit.outbox.ports.OutboxStore` of the messages saved with the orders
    (see the module docstring for their order).

    Orders are immutable values and every save changes the version, so the repository
    keeps the last ``cache_size`` committed orders it read or saved by ``(order_id,
    version)``: ``get`` reads the stored version in one statement, with the JSON only
    when this process has not seen that version yet. The database stays the only
    authority (another process's save changes the version, which misses the cache).
    Only what ran outside any block on a DSN or a pool is kept: a block's writes and
    reads may still roll back.

    ``ship_from_tz`` (an IANA zone name) is the zone a presale's ship-from day begins in
    for the watch's ``ship_due_at``: the schema keeps it (``None``, the default: the
    schema's, ``Asia/Shanghai`` until one is given), and a repository given another
    makes it the schema's, deriving the presales stored before again.
    """

    def __init__(
        self, source: object, *, schema: str | None = None, cache_size: int = 4096,
        ship_from_tz: str | None = None,
    ) -> None:
        from orderkit.adapters._cache import OrderCache  # loaded when used
        from orderkit.adapters._watch import checked_ship_from_tz

        wanted = checked_ship_from_tz(ship_from_tz)
        self._cache = OrderCache(cache_size)
        self._db = Database(source, schema=schema)
        self._db.ensure_schema("orders", MIGRATIONS)
        self._ship_from_tz = self._settle_ship_from_tz(wanted)

    @property
    def ship_from_tz(self) -> str:
        """The zone a presale's ship-from day begins in (its ``ship_due_at``): the
        schema's, kept in table ``order_settings``."""
        return self._ship_from_tz

    def _settle_ship_from_tz(self, wanted: str | None) -> str:
        """The schema's ship-from zone, after making it ``wanted`` when given: the
        presales stored before are derived again in the same transaction, under a lock
        on the setting."""
        db = self._db
        read = db.sql("SELECT value FROM {s}.order_settings WHERE name = 'ship_from_tz'")

        def stored(conn: psycopg.Connection[Any], lock: str = "") -> str:
            row = conn.execute(read + lock).fetchone()
            return DEFAULT_ACCOUNTING_TZ if row is None else str(row[0])

        found = db.run("read the ship-from zone", stored, single=True, own=True)
        if wanted is None or wanted == found:
            return found

        def change(conn: psycopg.Connection[Any]) -> None:
            if stored(conn, " FOR UPDATE") != wanted:  # another process may have done it
                _fill(db, conn, _PRESALES_WITH_A_DAY, ("ship_due_at",), tz=wanted)
                conn.execute(db.sql("UPDATE {s}.order_settings SET value = %s"
                                    " WHERE name = 'ship_from_tz'"), (wanted,))

        db.run("change the ship-from zone", change, own=True)
        return wanted

    @property
    def database(self) -> Database:
        """The source and schema (pass it to the other PostgreSQL adapters to share
        their transactions)."""
        return self._db

    def atomic(self) -> AbstractContextManager[object]:
        """A block whose writes commit together: this repository's and those of every
        PostgreSQL adapter on the same source. An exception rolls the whole block back.
        On the host's connection the block is a savepoint of the host's transaction.
        The block's ``BEGIN`` goes to the server with its first statement; a block in
        which nothing ran costs nothing."""
        return self._atomic()

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        # Deferred: every adapter call inside sends the block's opening first (the
        # connection itself is not handed out).
        with self._db.transaction("atomic block", deferred=True):
            yield

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the outermost block open on this thread (on this
        source, by any PostgreSQL adapter) has committed, at once when none is open;
        dropped if the block it was registered in rolls back. On the host's own
        connection, whose commit orderkit cannot see, it is dropped (see
        :meth:`~orderkit.lifecycle.ports.OrderRepository.after_commit`)."""
        self._db.after_commit(callback)

    def close(self) -> None:
        """Close this thread's own connection (DSN sources only)."""
        self._db.close()

    # --- orders ------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`OrderNotFound` when absent."""
        stored_key("order_id", order_id)
        cached = self._cache.get(order_id)
        known = None if cached is None else cached.version
        sql = self._db.sql(
            "SELECT version, CASE WHEN version = %s THEN NULL ELSE body END"
            " FROM {s}.orders WHERE order_id = %s"
        )
        committed = self._committed()
        row = self._db.run(
            "get order", lambda conn: conn.execute(sql, (known, order_id)).fetchone(),
            single=True,
        )
        if row is None:
            raise OrderNotFound(order_id)
        if cached is not None and row[1] is None:
            return cached
        order = _load(row[1])
        if committed:
            self._cache.remember(order)
        return order

    def _committed(self) -> bool:
        """Whether what this thread reads or writes now is committed when the call ends
        (outside any block, on a DSN or a pool), so that it may be kept."""
        return bool(self._cache.size) and self._db.kind != "connection" and (
            not self._db.in_transaction
        )

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding ``channel_order_id`` on ``channel``, or ``None``."""
        stored_key("channel", channel)
        stored_key("channel_order_id", channel_order_id)
        sql = self._db.sql(
            "SELECT body FROM {s}.orders WHERE channel = %s AND channel_order_id = %s"
        )
        row = self._db.run(
            "find order by channel",
            lambda conn: conn.execute(sql, (channel, channel_order_id)).fetchone(),
            single=True,
        )
        return None if row is None else _load(row[0])

    def find_many_by_channel(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Order]:
        """The orders holding these ``(channel, channel order id)`` keys, by key, in one
        read through the channel index."""
        from orderkit.adapters._keys import checked_channel_keys  # loaded when used

        wanted = checked_channel_keys(keys)
        if not wanted:
            return {}
        sql = self._db.sql(
            "SELECT o.body FROM unnest(%s::text[], %s::text[]) AS k(channel, channel_order_id)"
            " JOIN {s}.orders AS o USING (channel, channel_order_id)"
        )
        channels = [channel for channel, _id in wanted]
        ids = [channel_order_id for _channel, channel_order_id in wanted]
        rows = self._db.run(
            "find orders by channel",
            lambda conn: conn.execute(sql, (channels, ids)).fetchall(),
            single=True,
        )
        orders = [_load(row[0]) for row in rows]
        return {(o.channel, o.channel_order_id): o for o in orders}

    def find_by_waybill(self, waybill: str) -> list[Order]:
        """Every order with a shipment carrying ``waybill``, by order id."""
        stored_key("waybill", waybill, blank=False)
        sql = self._db.sql(
            "SELECT o.body FROM {s}.order_waybills AS w JOIN {s}.orders AS o"
            " USING (order_id) WHERE w.waybill = %s ORDER BY o.order_id"
        )
        rows = self._db.run(
            "find orders by waybill", lambda conn: conn.execute(sql, (waybill,)).fetchall(),
            single=True,
        )
        orders = [_load(row[0]) for row in rows]
        return [o for o in orders if any(s.waybill == waybill for s in o.shipments)]

    def stale(
        self,
        statuses: Collection[int],
        anchor: Anchor,
        before: datetime,
        limit: int,
        *,
        terms: PaymentTerms | None = None,
        group: tuple[GroupBy, str] | None = None,
        leave_out: Collection[Anchor] = (),
    ) -> list[Order]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale`: one indexed range
        read (``terms`` and ``group`` filter the rows the index walk meets)."""
        from orderkit.adapters._watch import checked_group, checked_query

        codes, anchor, before, limit = checked_query(statuses, anchor, before, limit)
        wanted = checked_group(group)
        column = _ANCHOR_COLUMN[anchor]
        condition, arguments = _stale_filter(terms, leave_out)
        if wanted is not None:
            condition += f" AND {_GROUP_SQL[wanted[0]]} = %s"
            arguments += (wanted[1],)
        sql = self._db.sql(
            f"SELECT body FROM {{s}}.orders WHERE status = ANY(%s) AND {column} < %s"
            f"{condition} ORDER BY {column}, order_id LIMIT %s"
        )
        rows = self._db.run(
            "stale orders",
            lambda conn: conn.execute(sql, (list(codes), before, *arguments, limit)).fetchall(),
            single=True,
        )
        return [_load(row[0]) for row in rows]

    def stale_count(
        self,
        statuses: Collection[int],
        anchor: Anchor,
        before: datetime,
        *,
        terms: PaymentTerms | None = None,
        group_by: GroupBy | None = None,
        leave_out: Collection[Anchor] = (),
    ) -> dict[str, int]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale_count`: one grouped
        count over the anchor's index (no order decoded)."""
        from orderkit.adapters._watch import checked_group_by, checked_query

        codes, anchor, before, _ = checked_query(statuses, anchor, before)
        by = checked_group_by(group_by)
        column = _ANCHOR_COLUMN[anchor]
        condition, arguments = _stale_filter(terms, leave_out)
        key = "''" if by is None else _GROUP_SQL[by]
        sql = self._db.sql(
            f"SELECT {key}, count(*) FROM {{s}}.orders WHERE status = ANY(%s)"
            f" AND {column} < %s{condition} GROUP BY 1"
        )
        rows = self._db.run(
            "count stale orders",
            lambda conn: conn.execute(sql, (list(codes), before, *arguments)).fetchall(),
            single=True,
        )
        return {str(group): int(count) for group, count in sorted(rows)}

    def stale_groups(
        self,
        statuses: Collection[int],
        anchor: Anchor,
        before: datetime,
        limit: int,
        *,
        group_by: GroupBy,
        terms: PaymentTerms | None = None,
        leave_out: Collection[Anchor] = (),
    ) -> dict[str, tuple[int, list[Order]]]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale_groups`: one
        statement over the anchor's index, each group numbered and counted by window
        functions; only the first ``limit`` rows of each group are joined to their body
        and decoded."""
        from orderkit.adapters._watch import checked_query, required_group_by

        codes, anchor, before, limit = checked_query(statuses, anchor, before, limit)
        by = required_group_by(group_by)
        column = _ANCHOR_COLUMN[anchor]
        condition, arguments = _stale_filter(terms, leave_out)
        sql = self._db.sql(
            f"SELECT w.g, w.n, o.body FROM (SELECT {_GROUP_SQL[by]} AS g, order_id,"
            f" row_number() OVER (PARTITION BY {_GROUP_SQL[by]} ORDER BY {column}, order_id)"
            f" AS r, count(*) OVER (PARTITION BY {_GROUP_SQL[by]}) AS n FROM {{s}}.orders"
            f" WHERE status = ANY(%s) AND {column} < %s{condition}) AS w"
            f" JOIN {{s}}.orders AS o USING (order_id) WHERE w.r <= %s ORDER BY w.g, w.r"
        )
        rows = self._db.run(
            "stale orders by group",
            lambda conn: conn.execute(sql, (list(codes), before, *arguments, limit)).fetchall(),
            single=True,
        )
        found: dict[str, tuple[int, list[Order]]] = {}
        for group, count, body in rows:
            found.setdefault(str(group), (int(count), []))[1].append(_load(body))
        return found

    def count_by_status(
        self,
        anchor: Anchor,
        since: datetime | None,
        until: datetime,
        statuses: Collection[int] | None = None,
        *,
        leave_out: Collection[Anchor] = (),
        due_by: datetime | None = None,
    ) -> dict[int, int]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.count_by_status`: one
        grouped count over the anchor's index."""
        from orderkit.adapters._watch import checked_count

        query = checked_count(anchor, since, until, statuses, leave_out, due_by)
        column = _ANCHOR_COLUMN[query.anchor]
        condition = "".join(f" AND {left} IS NULL" for left in query.leave_out)
        if query.due_by is not None:
            condition += " AND (ship_due_at IS NULL OR ship_due_at < %(due_by)s)"
        sql = self._db.sql(
            f"SELECT status, count(*) FROM {{s}}.orders WHERE {column} < %(until)s"
            f" AND (%(since)s::timestamptz IS NULL OR {column} >= %(since)s)"
            f" AND (%(wanted)s::integer[] IS NULL OR status = ANY(%(wanted)s)){condition}"
            f" GROUP BY status ORDER BY status"
        )
        params = {"until": query.until, "since": query.since, "due_by": query.due_by,
                  "wanted": None if query.statuses is None else list(query.statuses)}
        rows = self._db.run(
            "count orders by status", lambda conn: conn.execute(sql, params).fetchall(),
            single=True,
        )
        return {int(status): int(count) for status, count in rows if count}

    def first_scans(self, since: datetime, until: datetime) -> list[FirstScan]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.first_scans`: one range
        read of index ``orders_by_first_shipped``."""
        from orderkit.lifecycle.ports import FirstScan

        start = ensure_aware(since, path="since")
        end = ensure_aware(until, path="until")
        sql = self._db.sql(
            "SELECT order_id, channel, body::jsonb -> 'shipments' -> 0 ->> 'carrier',"
            " body::jsonb -> 'shipments' -> 0 ->> 'waybill', first_shipped_at,"
            " body::jsonb -> 'shipments' -> 0 ->> 'first_scan_at', body::jsonb -> 'tags'"
            " FROM {s}.orders WHERE first_shipped_at >= %s AND first_shipped_at < %s"
            " ORDER BY first_shipped_at, order_id"
        )
        rows = self._db.run(
            "first scans", lambda conn: conn.execute(sql, (start, end)).fetchall(),
            single=True,
        )
        return [
            FirstScan(order_id, channel, carrier or "", waybill or "",
                      shipped.astimezone(UTC),
                      None if scanned is None else datetime.fromisoformat(scanned),
                      frozenset(tags or ()))
            for order_id, channel, carrier, waybill, shipped, scanned, tags in rows
        ]

    def save(
        self,
        order: Order,
        expected_version: int | None,
        *,
        audit: Sequence[AuditEntry] = (),
        outbox: Sequence[OutboxMessage] = (),
    ) -> None:
        """Insert or replace ``order`` if the stored version is ``expected_version``;
        store ``audit``, any address change and the ``outbox`` messages in the same
        transaction."""
        check_version_raised(order, expected_version)
        entries = checked_entries(audit)
        data = to_dict(order)
        values: dict[str, object] = {
            "order_id": order.order_id,
            "channel": order.channel,
            "channel_order_id": order.channel_order_id,
            "status": int(order.status),
            "version": order.version,
            "ship_to": _dumps(data["ship_to"]),
            "body": _dumps(data),
            **_instants(order, self._ship_from_tz),
        }
        waybills = sorted({s.waybill for s in order.shipments if s.waybill})
        messages: list[tuple[OutboxMessage, str]] = []
        if outbox or not isinstance(outbox, Sequence):
            from orderkit.adapters import _outbox  # the outbox only loads when used

            messages = _outbox.checked_messages(order.order_id, outbox)
        ids = [m.message_id for m, _payload in messages]
        values.update(
            expected=expected_version,
            # What the stored row is taken to be until the database says otherwise.
            stored_ship_to=values["ship_to"],
            stored_channel=order.channel,
            stored_channel_order_id=order.channel_order_id,
            addresses=[],
            audit=[_dumps(to_dict(e)) for e in entries],
            waybills=waybills,
            ids=ids,
            topics=[m.topic for m, _payload in messages],
            payloads=[payload for _m, payload in messages],
            ats=[m.created_at for m, _payload in messages],
            occurred=[m.occurred_at for m, _payload in messages],
            versions=[m.order_version for m, _payload in messages],
            indexes=[m.index for m, _payload in messages],
        )
        db = self._db
        sql = db.sql(_SAVE_INSERT if expected_version is None else _SAVE_UPDATE)

        def write(conn: psycopg.Connection[Any]) -> None:
            # One statement writes the order and every row beside it, or nothing when the
            # stored row is not what it expects; it then says what the stored row is,
            # and after a changed address or channel order it runs again expecting that.
            # Inside a block it joins the block's transaction: a refusal wrote nothing.
            stored = expected_version
            for _attempt in range(_SAVE_ATTEMPTS):
                pending = db.take_pending()  # the block's opening, if any
                if pending:
                    with conn.pipeline():
                        for statement in pending:
                            conn.execute(statement)
                        saving = conn.execute(sql, values)
                else:
                    saving = conn.execute(sql, values)
                row = saving.fetchone()
                assert row is not None  # the statement returns one row
                written, stored, ship_to, channel, channel_order_id = row
                if written:
                    return
                if expected_version is None:
                    self._refuse_insert(conn, order, expected_version)
                    continue  # the row that was in the way is gone again
                if stored != expected_version:
                    raise ConcurrencyError(order.order_id, expected_version, stored)
                if (channel, channel_order_id) != (order.channel, order.channel_order_id):
                    self._refuse_channel_holder(conn, order)
                if ship_to != values["ship_to"]:
                    previous = json.loads(ship_to)
                    change = address_version(
                        None if previous is None else from_dict(Address, previous),
                        order.order_id, order.version, order.ship_to, entries,
                    )
                    values["addresses"] = [_dumps(to_dict(change))]
                values.update(stored_ship_to=ship_to, stored_channel=channel,
                              stored_channel_order_id=channel_order_id)
            raise ConcurrencyError(order.order_id, expected_version, stored)

        # Outside a block the statement is a transaction of its own: no BEGIN, no COMMIT.
        # Inside one it runs in a savepoint (sent with it), which a taken message id
        # rolls back, so the block stays usable.
        committed = self._committed()
        try:
            db.run("save order", write, savepoint=True, single=True, deferred=True)
        except StoreError as error:
            if unique_violation(error) != "order_outbox_message_id_key":
                raise
            self._refuse_taken_ids(order.order_id, expected_version, ids)
            raise
        if committed:
            self._cache.remember(order)

    def _refuse_taken_ids(
        self, order_id: str, expected_version: int | None, ids: list[str]
    ) -> None:
        """A save met a stored message id: refuse it as a save that checked first would
        (a stale version before a taken id)."""
        db = self._db

        def read(conn: psycopg.Connection[Any]) -> tuple[int | None, set[str]]:
            row = conn.execute(
                db.sql("SELECT version FROM {s}.orders WHERE order_id = %s"), (order_id,)
            ).fetchone()
            taken = conn.execute(
                db.sql("SELECT message_id FROM {s}.order_outbox WHERE message_id = ANY(%s)"),
                (ids,),
            ).fetchall()
            return (None if row is None else int(row[0])), {r[0] for r in taken}

        stored, taken = db.run("read a refused save", read)
        if stored != expected_version:
            raise ConcurrencyError(order_id, expected_version, stored)
        from orderkit.adapters import _outbox

        _outbox.refuse_stored_ids(taken, ids, "outbox")

    def _refuse_insert(
        self, conn: psycopg.Connection[Any], order: Order, expected_version: int | None
    ) -> None:
        """The insert met a row a concurrent writer committed: say which key it took."""
        row = conn.execute(
            self._db.sql("SELECT version FROM {s}.orders WHERE order_id = %s"),
            (order.order_id,),
        ).fetchone()
        if row is not None:
            raise ConcurrencyError(order.order_id, expected_version, int(row[0]))
        self._refuse_channel_holder(conn, order)

    def _refuse_channel_holder(self, conn: psycopg.Connection[Any], order: Order) -> None:
        holder = conn.execute(
            self._db.sql(
                "SELECT order_id FROM {s}.orders WHERE channel = %s AND channel_order_id = %s"
                " AND order_id <> %s"
            ),
            (order.channel, order.channel_order_id, order.order_id),
        ).fetchone()
        if holder is not None:
            raise DuplicateOrder(order.channel, order.channel_order_id, holder[0])

    def insert_many(
        self, placements: Sequence[tuple[Order, Sequence[AuditEntry], Sequence[OutboxMessage]]]
    ) -> None:
        """Insert new orders with their audit entries and outbox messages, all or none
        (one block of inserts)."""
        with self.atomic():
            for order, audit, outbox in placements:
                self.save(order, None, audit=audit, outbox=outbox)

    def record_audit(self, order_id: str, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries without touching the order."""
        stored_key("order_id", order_id)
        rows = [(order_id, _dumps(to_dict(e))) for e in checked_entries(entries)]
        if not rows:
            return
        sql = self._db.sql("INSERT INTO {s}.order_audit (order_id, body) VALUES (%s, %s)")
        self._db.run("record audit", lambda conn: conn.cursor().executemany(sql, rows))

    def audit_trail(self, order_id: str) -> list[AuditEntry]:
        """The order's audit entries, oldest first."""
        stored_key("order_id", order_id)
        sql = self._db.sql("SELECT body FROM {s}.order_audit WHERE order_id = %s ORDER BY seq")
        rows = self._db.run(
            "read audit trail", lambda conn: conn.execute(sql, (order_id,)).fetchall(),
            single=True,
        )
        return [from_dict(AuditEntry, json.loads(row[0])) for row in rows]

    def address_history(self, order_id: str) -> list[AddressVersion]:
        """The order's address changes, oldest first."""
        stored_key("order_id", order_id)
        sql = self._db.sql(
            "SELECT body FROM {s}.order_addresses WHERE order_id = %s ORDER BY version"
        )
        rows = self._db.run(
            "read address history", lambda conn: conn.execute(sql, (order_id,)).fetchall(),
            single=True,
        )
        return [from_dict(AddressVersion, json.loads(row[0])) for row in rows]

    # --- the outbox store ----------------------------------------------------------------

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Add messages no order save carries, in one transaction."""
        from orderkit.adapters import _outbox

        rows = [_message_row(m, _outbox.payload_json(m)) for m in _outbox.checked_enqueue(messages)]
        if not rows:
            return
        db = self._db

        ids = [str(r["message_id"]) for r in rows]

        def write(conn: psycopg.Connection[Any]) -> None:
            taken = conn.execute(
                db.sql("SELECT message_id FROM {s}.order_outbox WHERE message_id = ANY(%s)"),
                (ids,),
            ).fetchall()
            _outbox.refuse_stored_ids({r[0] for r in taken}, ids, "messages")
            conn.cursor().executemany(db.sql(_INSERT_MESSAGE), rows)

        db.run("enqueue outbox messages", write)

    def pending(
        self, limit: int, *, consumer: Consumer | None = None, now: datetime | None = None
    ) -> list[StoredMessage]:
        """Up to ``limit`` pending messages whose writers have all ended, by position
        (see the module docstring): those of ``consumer`` only, when given (through
        ``order_outbox_lane``), and with ``now`` none waiting out a back-off nor behind
        one in its order's lane (probed in ``order_outbox_waiting``, which holds only
        failed rows)."""
        count = quantity("limit", limit)
        where, args = f"o.status = 'pending' AND {_VISIBLE}", list[object]()
        if consumer is not None or now is not None:
            from orderkit.adapters._outbox import checked_lane

            wanted, at = checked_lane(consumer, now)
            if wanted is not None:
                where += " AND o.consumer = %s"
                args.append(wanted)
            if at is not None:
                where += _READY
                args += [at, at]
        sql = self._db.sql(
            f"SELECT {_OUTBOX_COLUMNS} FROM {{s}}.order_outbox AS o"
            f" WHERE {where} ORDER BY o.position, o.seq LIMIT %s"
        )
        rows = self._db.run(
            "read pending outbox messages",
            lambda conn: conn.execute(sql, (*args, count)).fetchall(),
            single=True,
        )
        return [_stored(row) for row in rows]

    def mark_delivered(self, message_ids: Sequence[str], at: datetime) -> None:
        """Mark these messages delivered at ``at``; unknown or delivered ones are skipped."""
        from orderkit.adapters import _outbox

        ids = _outbox.checked_ids(message_ids)
        delivered = ensure_aware(at, path="at")
        if not ids:
            return
        sql = self._db.sql(
            "UPDATE {s}.order_outbox SET status = 'delivered', delivered_at = %s"
            " WHERE message_id = ANY(%s) AND status <> 'delivered'"
        )
        self._db.run(
            "mark outbox messages delivered",
            lambda conn: conn.execute(sql, (delivered, ids)),
            single=True,
        )

    def mark_failed(
        self, message_id: str, error: str, *, dead: bool, retry_at: datetime | None = None
    ) -> None:
        """Count a failed delivery of a pending message and keep ``error`` (cut to
        2000 characters) and ``retry_at``; ``dead`` moves it to the dead letters."""
        from orderkit.adapters import _outbox

        message_id = _outbox.checked_id(message_id)
        text = _outbox.checked_error(error)
        status = "dead" if _outbox.checked_dead(dead) else "pending"
        retry = None if retry_at is None else ensure_aware(retry_at, path="retry_at")
        sql = self._db.sql(
            "UPDATE {s}.order_outbox SET attempts = attempts + 1, error = %s, status = %s,"
            " retry_at = %s WHERE message_id = %s AND status = 'pending'"
        )
        self._db.run(
            "record an outbox message's failure",
            lambda conn: conn.execute(sql, (text, status, retry, message_id)),
            single=True,
        )

    def dead_letters(self) -> list[StoredMessage]:
        """Every dead message, oldest first."""
        sql = self._db.sql(
            f"SELECT {_OUTBOX_COLUMNS} FROM {{s}}.order_outbox"
            " WHERE status = 'dead' ORDER BY position, seq"
        )
        rows = self._db.run(
            "read dead outbox messages", lambda conn: conn.execute(sql).fetchall(), single=True
        )
        return [_stored(row) for row in rows]

    def replay(self, message_id: str) -> bool:
        """Make a dead message pending again, attempts and error cleared, in its old
        place; ``False`` when no dead message has that id."""
        from orderkit.adapters import _outbox

        message_id = _outbox.checked_id(message_id)
        sql = self._db.sql(
            "UPDATE {s}.order_outbox SET status = 'pending', attempts = 0, error = '',"
            " retry_at = NULL WHERE message_id = %s AND status = 'dead'"
        )
        count = self._db.run(
            "replay outbox message",
            lambda conn: conn.execute(sql, (message_id,)).rowcount,
            single=True,
        )
        return count == 1

    def purge_delivered(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete up to ``limit`` (all when ``None``) messages delivered before
        ``before``, earliest delivered first, in one statement through
        ``order_outbox_delivered``, in a transaction of its own (or the open block's);
        pending and dead ones stay (see ``OutboxRetention``)."""
        return self._db.purge("purge delivered outbox messages", PURGE_DELIVERED, before, limit)

    def dead_letter_count(self) -> int:
        """How many dead messages wait for a replay (through ``order_outbox_dead``)."""
        sql = self._db.sql("SELECT count(*) FROM {s}.order_outbox WHERE status = 'dead'")
        row = self._db.run(
            "count dead outbox messages", lambda conn: conn.execute(sql).fetchone(), single=True
        )
        return 0 if row is None else int(row[0])

    def oldest_pending(self) -> datetime | None:
        """When the earliest created pending message was created (``None``: none waits)."""
        sql = self._db.sql(
            "SELECT min(created_at) AT TIME ZONE 'UTC' FROM {s}.order_outbox"
            " WHERE status = 'pending'"
        )
        row = self._db.run(
            "read oldest pending outbox message",
            lambda conn: conn.execute(sql).fetchone(),
            single=True,
        )
        return None if row is None or row[0] is None else utc(row[0])


def _message_row(message: OutboxMessage, payload: str) -> dict[str, object]:
    return {
        "message_id": message.message_id,
        "order_id": message.order_id,
        "topic": message.topic,
        "payload": payload,
        "created_at": message.created_at,
        "occurred_at": message.occurred_at,
        "order_version": message.order_version,
        "message_index": message.index,
    }


def _stored(row: tuple[Any, ...]) -> StoredMessage:
    from orderkit.adapters._outbox import OutboxMessage, StoredMessage

    (message_id, order_id, topic, payload, created_at, status, attempts, error, retry_at,
     occurred_at, order_version, index) = row
    message = OutboxMessage(
        message_id=message_id,
        order_id=order_id,
        topic=topic,
        payload=json.loads(payload),
        created_at=utc(created_at),
        occurred_at=None if occurred_at is None else utc(occurred_at),
        order_version=None if order_version is None else int(order_version),
        index=None if index is None else int(index),
    )
    return StoredMessage(
        message,
        status=status,
        attempts=int(attempts),
        error=error,
        retry_at=None if retry_at is None else utc(retry_at),
    )


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def _load(body: str) -> Order:
    return from_dict(Order, json.loads(body))


def _instants(order: Order, tz: str) -> dict[str, datetime | None]:
    """The instants the watch reads, as columns beside the stored order (a presale's
    ship-from day beginning in ``tz``, the schema's ship-from zone)."""
    from orderkit.adapters._watch import balance_due_since, paid_since, ship_due_at
    latest = order.shipments[-1] if order.shipments else None
    return {
        "status_since": order.status_since,
        "paid_at": paid_since(order),
        "created_at": order.created_at,
        "unscanned_since": (
            latest.shipped_at if latest is not None and latest.first_scan_at is None else None
        ),
        "first_shipped_at": order.shipments[0].shipped_at if order.shipments else None,
        "return_requested_since": order.return_requested_since,
        "refund_due_since": order.refund_due_since,
        "partly_shipped_since": order.partly_shipped_since,
        "ship_due_at": ship_due_at(order, tz=tz),
        "balance_due_since": balance_due_since(order),
    }


def _fill_paid_at(db: Database, conn: psycopg.Connection[Any]) -> None:
    """The upgrade step filling ``paid_at`` of the orders in a paid status without one
    (the watch's statuses, read when a schema is upgraded, not when this is imported)."""
    from orderkit.adapters._watch import paid_statuses_sql

    _fill(db, conn, f"paid_at IS NULL AND status IN ({paid_statuses_sql()})", ("paid_at",))


def _fill(db: Database, conn: psycopg.Connection[Any], where: str,
          columns: Sequence[Anchor], *, tz: str = DEFAULT_ACCOUNTING_TZ) -> None:
    """A migration step that fills the derived ``columns`` (the model's properties of
    those names) of the orders stored before them, reading only the orders ``where``
    (SQL on ``body``) says may have one (the migrations run in the zone every release
    before derived them in)."""
    from orderkit.adapters._watch import anchor_of

    rows = conn.execute(db.sql(f"SELECT body FROM {{s}}.orders WHERE {where}")).fetchall()
    filled = [
        {"order_id": order.order_id, **instants}
        for order in (_load(row[0]) for row in rows)
        if any((instants := {c: anchor_of(order, c, tz=tz) for c in columns}).values())
    ]
    if filled:
        assignments = ", ".join(f"{c} = %({c})s" for c in columns)
        conn.cursor().executemany(db.sql(
            f"UPDATE {{s}}.orders SET {assignments} WHERE order_id = %(order_id)s"
        ), filled)
