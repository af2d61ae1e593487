"""``OrderRepository`` and ``OutboxStore`` on SQLite: one row per order, the order as
canonical JSON, one row per outbox message (table ``order_outbox``) and one per waybill of an order
(table ``order_waybills``, the index of :meth:`SQLiteOrderRepository.find_by_waybill`).

Instants of the outbox are stored as integer microseconds since the epoch (UTC), so they
compare and sort as numbers and come back exact.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from orderkit.adapters.sqlite._db import Database
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
    ValidationError,
)
from orderkit.model.orders import (
    Address,
    Order,
    PaymentTerms,
    check_version_raised,
)
from orderkit.model.serialization import from_dict, to_dict
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, ensure_aware

if TYPE_CHECKING:
    from orderkit.lifecycle.ports import FirstScan, GroupBy
    from orderkit.model.orders import Anchor
    from orderkit.outbox.messages import Consumer, OutboxMessage, StoredMessage

__all__ = ["SQLiteOrderRepository"]

_MIGRATIONS: Final = (
    """
    CREATE TABLE orders (
        order_id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        channel_order_id TEXT NOT NULL,
        status INTEGER NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE UNIQUE INDEX orders_by_channel ON orders (channel, channel_order_id);
    CREATE INDEX orders_by_status ON orders (status)
    """,
    """
    CREATE TABLE order_audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        order_id TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX order_audit_by_order ON order_audit (order_id, seq);
    CREATE TABLE order_addresses (
        order_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (order_id, version)
    )
    """,
    # seq gives commit order: writers are serialised, and AUTOINCREMENT never reuses one.
    """
    CREATE TABLE order_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        order_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        delivered_us INTEGER
    );
    CREATE INDEX order_outbox_pending ON order_outbox (seq) WHERE status = 'pending';
    CREATE INDEX order_outbox_dead ON order_outbox (seq) WHERE status = 'dead'
    """,
    # When a failed message may be tried again (NULL: at once).
    """
    ALTER TABLE order_outbox ADD COLUMN retry_us INTEGER
    """,
    # Carrier callbacks carry only the waybill: one row per (waybill, order), filled
    # from the orders already stored.
    """
    CREATE TABLE order_waybills (
        waybill TEXT NOT NULL,
        order_id TEXT NOT NULL,
        PRIMARY KEY (waybill, order_id)
    ) WITHOUT ROWID;
    INSERT OR IGNORE INTO order_waybills (waybill, order_id)
        SELECT json_extract(s.value, '$.waybill'), o.order_id
        FROM orders AS o, json_each(o.body, '$.shipments') AS s
        WHERE json_extract(s.value, '$.waybill') != ''
    """,
    # The watch's stale query: indexes on the instants inside the order's JSON (UTC ISO
    # text, which sorts as time), so a watch cycle reads only the orders it reports.
    """
    CREATE INDEX orders_by_status_since
        ON orders (status, json_extract(body, '$.status_since'));
    CREATE INDEX orders_by_paid_at ON orders (status, json_extract(body, '$.paid_at'));
    CREATE INDEX orders_by_created_at ON orders (status, json_extract(body, '$.created_at'));
    CREATE INDEX orders_unscanned
        ON orders (json_extract(body, '$.shipments[#-1].shipped_at'))
        WHERE json_extract(body, '$.shipments[#-1].first_scan_at') IS NULL
    """,
    # The carrier report reads each order's first parcel by when it was handed over.
    """
    CREATE INDEX orders_by_first_shipped
        ON orders (json_extract(body, '$.shipments[0].shipped_at'))
        WHERE json_extract(body, '$.shipments[0].shipped_at') IS NOT NULL
    """,
    # An order's time in its status runs from status_since, or from created_at while it
    # has never changed status (placed orders have no status_since).
    """
    DROP INDEX orders_by_status_since;
    CREATE INDEX orders_by_time_in_status ON orders (
        status,
        coalesce(json_extract(body, '$.status_since'), json_extract(body, '$.created_at'))
    )
    """,
    # The after-sale instants are derived from the returns and the money (a refund still
    # due), which SQL cannot compute: every save writes them beside the order, each
    # NULL unless the order is in that after-sale state, and the orders stored before
    # are filled in here.
    """
    ALTER TABLE orders ADD COLUMN return_requested_since TEXT;
    ALTER TABLE orders ADD COLUMN refund_due_since TEXT;
    CREATE INDEX orders_return_requested ON orders (return_requested_since)
        WHERE return_requested_since IS NOT NULL;
    CREATE INDEX orders_refund_due ON orders (refund_due_since)
        WHERE refund_due_since IS NOT NULL
    """,
    # Only orders with a return can have an after-sale instant.
    lambda conn: _fill(conn, "json_array_length(body, '$.returns') > 0",
                       ("return_requested_since", "refund_due_since")),
    # A partly shipped order's first parcel time (units still to ship after a parcel
    # left), derived by the model like the after-sale instants: written by every save,
    # NULL unless the order is partly shipped, filled here for the orders stored before.
    """
    ALTER TABLE orders ADD COLUMN partly_shipped_since TEXT;
    CREATE INDEX orders_partly_shipped ON orders (partly_shipped_since)
        WHERE partly_shipped_since IS NOT NULL
    """,
    # Only orders with a line that may still have units to ship (the model decides).
    lambda conn: _fill(conn, "EXISTS (SELECT 1 FROM json_each(body, '$.lines') AS l"
                       " WHERE json_extract(l.value, '$.quantities.open') IS NOT 0)",
                       ("partly_shipped_since",)),
    # When an order was paid, as the watch measures it: its paid_at, or, for an order
    # placed already paid without one, when it entered its status (the adapters'
    # ``paid_since``), written by every save beside the order.
    """
    ALTER TABLE orders ADD COLUMN paid_at TEXT;
    DROP INDEX orders_by_paid_at;
    CREATE INDEX orders_by_paid_at ON orders (status, paid_at) WHERE paid_at IS NOT NULL;
    UPDATE orders SET paid_at = json_extract(body, '$.paid_at')
        WHERE json_extract(body, '$.paid_at') IS NOT NULL
    """,
    # Only the orders in a paid status without a paid_at may fall back (the model's
    # statuses PAID, PACKED, SHIPPED and DELIVERED; the adapters decide).
    lambda conn: _fill_paid_at(conn),
    # An order whose last parcel never got a scan stays unscanned once delivered or
    # completed: the status leads the index, so the no-first-scan query (one status)
    # reads the orders that can still get a first scan, not all of history.
    """
    DROP INDEX orders_unscanned;
    CREATE INDEX orders_unscanned
        ON orders (status, json_extract(body, '$.shipments[#-1].shipped_at'))
        WHERE json_extract(body, '$.shipments[#-1].first_scan_at') IS NULL
    """,
    # When an order became due to ship (its paid instant, or a presale's ship-from day
    # when later) and, while a presale that took its deposit waits for its balance, when
    # the deposit came (the adapters' ``ship_due_at`` and ``balance_due_since``): written
    # by every save. Only a presale differs from its paid instant or has a balance due.
    """
    ALTER TABLE orders ADD COLUMN ship_due_at TEXT;
    ALTER TABLE orders ADD COLUMN balance_due_since TEXT;
    UPDATE orders SET ship_due_at = paid_at WHERE paid_at IS NOT NULL;
    CREATE INDEX orders_by_ship_due_at ON orders (status, ship_due_at)
        WHERE ship_due_at IS NOT NULL;
    CREATE INDEX orders_balance_due ON orders (balance_due_since)
        WHERE balance_due_since IS NOT NULL
    """,
    lambda conn: _fill(conn, "EXISTS (SELECT 1 FROM json_each(body, '$.tags')"
                       " WHERE value = 'presale')", ("ship_due_at", "balance_due_since")),
    # A relay reads each consumer's lane apart (``consumer``: computed from the topic,
    # as ``orderkit.outbox.messages.consumer_of`` does), and passes over the rows
    # waiting out a back-off and those behind them: the failed rows (few) have an index
    # of their own, by order and lane.
    """
    ALTER TABLE order_outbox ADD COLUMN consumer TEXT GENERATED ALWAYS AS
        (CASE WHEN substr(topic, 1, 6) = 'event.' THEN 'sink' ELSE 'ledger' END) VIRTUAL;
    CREATE INDEX order_outbox_lane ON order_outbox (consumer, seq) WHERE status = 'pending';
    CREATE INDEX order_outbox_waiting ON order_outbox (order_id, consumer, seq)
        WHERE status = 'pending' AND retry_us IS NOT NULL
    """,
    # What caused each message: the input event's own time, the order version and the
    # message's place in its decision (NULL for the messages written before).
    """
    ALTER TABLE order_outbox ADD COLUMN occurred_us INTEGER;
    ALTER TABLE order_outbox ADD COLUMN order_version INTEGER;
    ALTER TABLE order_outbox ADD COLUMN message_index INTEGER
    """,
    # The zone a presale's ship-from day begins in, which its ship_due_at was derived
    # in: the accounting zone every release before wrote, until a repository is given
    # another (``ship_from_tz``).
    """
    CREATE TABLE order_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    INSERT INTO order_settings (name, value) VALUES ('ship_from_tz', 'Asia/Shanghai')
    """,
    # The health page counts the open orders by their time in status, leaving out the
    # presales waiting for their balance and those not due to ship yet: the index on
    # the time in status carries both instants, so those counts read the index alone.
    """
    DROP INDEX orders_by_time_in_status;
    CREATE INDEX orders_by_time_in_status ON orders (
        status,
        coalesce(json_extract(body, '$.status_since'), json_extract(body, '$.created_at')),
        ship_due_at,
        balance_due_since
    )
    """,
    # The outbox's retention deletes what was delivered before a cut-off, earliest
    # first, a batch at a time: the delivered rows by when they were delivered.
    """
    CREATE INDEX order_outbox_delivered ON order_outbox (delivered_us)
        WHERE status = 'delivered'
    """,
)

#: The stored orders whose ``ship_due_at`` depends on the ship-from zone: presales
#: with a ``ship_from:`` tag (derived again when the file's zone changes).
_PRESALES_WITH_A_DAY: Final = (
    "ship_due_at IS NOT NULL"
    " AND EXISTS (SELECT 1 FROM json_each(body, '$.tags') WHERE value = 'presale')"
    " AND EXISTS (SELECT 1 FROM json_each(body, '$.tags') WHERE value LIKE 'ship_from:%')"
)

#: The anchors read through a partial index holding only the orders that have the
#: instant (few: those waiting), with the condition that keeps a row in it.
_PARTIAL: Final = {
    "unscanned_since": (
        "orders_unscanned", " AND json_extract(body, '$.shipments[#-1].first_scan_at') IS NULL"
    ),
    "return_requested_since": ("orders_return_requested", ""),
    "refund_due_since": ("orders_refund_due", ""),
    "partly_shipped_since": ("orders_partly_shipped", ""),
    "balance_due_since": ("orders_balance_due", ""),
}

#: The indexed expression of each anchor of the stale query (``status_since`` falls back
#: to ``created_at`` for an order that has never changed status).
_ANCHOR_SQL: Final = {
    "status_since": (
        "coalesce(json_extract(body, '$.status_since'), json_extract(body, '$.created_at'))"
    ),
    "paid_at": "paid_at",
    "created_at": "json_extract(body, '$.created_at')",
    "unscanned_since": "json_extract(body, '$.shipments[#-1].shipped_at')",
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
    "carrier": "coalesce(nullif(json_extract(body, '$.shipments[#-1].carrier'), ''), 'unknown')",
    "region": "coalesce(nullif(json_extract(body, '$.ship_to.province'), ''), 'unknown')",
}

#: The stored status codes, one index seek each (a skip scan of ``orders_by_status``).
_STATUSES_SQL: Final = (
    "WITH RECURSIVE codes(code) AS (SELECT min(status) FROM orders UNION ALL"
    " SELECT (SELECT min(status) FROM orders WHERE status > code) FROM codes"
    " WHERE code IS NOT NULL) SELECT code FROM codes WHERE code IS NOT NULL"
)

_OUTBOX_COLUMNS: Final = (
    "message_id, order_id, topic, payload, created_us, status, attempts, error, retry_us,"
    " occurred_us, order_version, message_index"
)
#: One ``order_outbox`` row as written: id, order, topic, payload, created, occurred,
#: order version, index.
_Row = tuple[str, str, str, str, int, int | None, int | None, int | None]
#: A pending row ``o`` a relay can deliver at an instant (both arguments): not waiting
#: out its back-off, and no earlier pending row of its order and consumer is.
_READY: Final = (
    " AND (o.retry_us IS NULL OR o.retry_us <= ?)"
    " AND NOT EXISTS (SELECT 1 FROM order_outbox AS w INDEXED BY order_outbox_waiting"
    " WHERE w.order_id = o.order_id AND w.consumer = o.consumer AND w.seq < o.seq"
    " AND w.status = 'pending' AND w.retry_us IS NOT NULL AND w.retry_us > ?)"
)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Orders joined to a JSON array of ``[channel, channel order id]`` keys, as ``o``.
_BY_CHANNEL_KEYS: Final = (
    " FROM json_each(?) AS k JOIN orders AS o ON o.channel = json_extract(k.value, '$[0]')"
    " AND o.channel_order_id = json_extract(k.value, '$[1]')"
)

class SQLiteOrderRepository:
    """Orders in a SQLite file, safe for several processes on one machine.

    ``save`` checks the stored version and writes in one ``BEGIN IMMEDIATE``
    transaction, so of two processes saving on top of the same version exactly one wins.
    The audit entries, the address version and the outbox messages saved with an order
    are written in the same transaction (tables ``order_audit``, ``order_addresses`` and
    ``order_outbox``).

    It is also the :class:`~orderkit.outbox.ports.OutboxStore` of those messages.
    Writers on a file are serialised, so the ``seq`` a message gets when it is inserted
    is its commit order, and :meth:`pending` reads the pending ones by ``seq`` through a
    partial index that holds only them.

    Orders are immutable values and every save changes the version, so the repository
    keeps the last ``cache_size`` orders it read or saved by ``(order_id, version)``:
    ``get`` reads the stored row in one statement and decodes its JSON only when this
    process has not seen that version yet. The file stays the only authority (another
    process's save changes the version, which misses the cache).

    ``ship_from_tz`` (an IANA zone name) is the zone a presale's ship-from day begins in
    for the watch's ``ship_due_at``: the file keeps it (``None``, the default: the
    file's, ``Asia/Shanghai`` until one is given), and a repository given another
    makes it the file's, deriving the presales stored before again.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, durable: bool = True, cache_size: int = 4096,
        ship_from_tz: str | None = None,
    ) -> None:
        from orderkit.adapters._cache import OrderCache  # loaded when used
        from orderkit.adapters._watch import checked_ship_from_tz

        wanted = checked_ship_from_tz(ship_from_tz)
        self._cache = OrderCache(cache_size)
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("orders", _MIGRATIONS)
        self._ship_from_tz = self._settle_ship_from_tz(wanted)

    @property
    def ship_from_tz(self) -> str:
        """The zone a presale's ship-from day begins in (its ``ship_due_at``): the
        file's, kept in table ``order_settings``."""
        return self._ship_from_tz

    def _settle_ship_from_tz(self, wanted: str | None) -> str:
        """The file's ship-from zone, after making it ``wanted`` when given: the
        presales stored before are derived again in the same transaction."""
        with self._db.read("read the ship-from zone") as conn:
            stored = _ship_from_tz(conn)
        if wanted is None or wanted == stored:
            return stored
        with self._db.write("change the ship-from zone") as conn:
            if _ship_from_tz(conn) != wanted:  # another process may have done it
                _fill(conn, _PRESALES_WITH_A_DAY, ("ship_due_at",), tz=wanted)
                conn.execute("UPDATE order_settings SET value = ? WHERE name = 'ship_from_tz'",
                             (wanted,))
        return wanted

    def atomic(self) -> AbstractContextManager[object]:
        """A block whose writes commit together: this repository's, and those of every
        SQLite adapter on the same file (the inventory store, the idempotency store);
        one ``fsync`` for all of them. An exception rolls the whole block back."""
        return self._db.write("atomic block")

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the outermost block open on this thread (on this file,
        by any SQLite adapter) has committed, at once when none is open; dropped if the
        block it was registered in rolls back (see
        :meth:`~orderkit.lifecycle.ports.OrderRepository.after_commit`)."""
        self._db.after_commit(callback)

    @property
    def database(self) -> Database:
        """The underlying file handle (shared with other adapters on the same file)."""
        return self._db

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`OrderNotFound` when absent."""
        stored_key("order_id", order_id)
        # One statement is its own consistent snapshot: no explicit transaction needed.
        with self._db.statement("get order") as conn:
            row = conn.execute(
                "SELECT version, body FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        if row is None:
            raise OrderNotFound(order_id)
        return self._decoded(order_id, row[0], row[1])

    def _decoded(self, order_id: str, version: int, body: str) -> Order:
        """The stored version ``version`` of the order (its JSON ``body``): the one this
        process decoded already, or ``body`` decoded and kept."""
        cached = self._cache.at(order_id, version)
        if cached is not None:
            return cached
        order = _load(body)
        self._cache.remember(order)
        return order

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding ``channel_order_id`` on ``channel``, or ``None``."""
        stored_key("channel", channel)
        stored_key("channel_order_id", channel_order_id)
        with self._db.read("find order by channel") as conn:
            row = conn.execute(
                "SELECT body FROM orders WHERE channel = ? AND channel_order_id = ?",
                (channel, channel_order_id),
            ).fetchone()
        return None if row is None else _load(row[0])

    def find_many_by_channel(
        self, keys: Collection[tuple[str, str]]
    ) -> dict[tuple[str, str], Order]:
        """The orders holding these ``(channel, channel order id)`` keys, by key, in one
        read through the channel index; an order whose stored version this process has
        decoded already is not decoded again."""
        from orderkit.adapters._keys import checked_channel_keys  # loaded when used

        wanted = checked_channel_keys(keys)
        if not wanted:
            return {}
        with self._db.read("find orders by channel") as conn:
            rows = conn.execute(
                f"SELECT o.order_id, o.version, o.body{_BY_CHANNEL_KEYS}",
                (json.dumps(wanted),),
            ).fetchall()
        found: dict[tuple[str, str], Order] = {}
        for order_id, version, body in rows:
            order = self._decoded(order_id, version, body)
            found[(order.channel, order.channel_order_id)] = order
        return found

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
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale`: one indexed
        range read per status (``terms`` and ``group`` filter the rows the index walk
        meets)."""
        from orderkit.adapters._watch import checked_group, checked_query  # when watched

        codes, anchor, before, limit = checked_query(statuses, anchor, before, limit)
        wanted = checked_group(group)
        expression = _ANCHOR_SQL[anchor]
        source, condition, arguments = _stale_filter(anchor, terms, leave_out)
        if wanted is not None:
            condition += f" AND {_GROUP_SQL[wanted[0]]} = ?"
            arguments += (wanted[1],)
        found: list[tuple[str, str, str]] = []
        with self._db.read("stale orders") as conn:
            for code in codes:
                found += conn.execute(
                    f"SELECT {expression}, order_id, body FROM {source}"
                    f" WHERE {expression} < ?{condition} AND status = ?"
                    f" ORDER BY {expression} LIMIT ?",
                    (_iso(before), *arguments, code, limit),
                ).fetchall()
        found.sort(key=lambda row: (datetime.fromisoformat(row[0]), row[1]))
        return [_load(body) for _at, _id, body in found[:limit]]

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
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.stale_count`: one indexed
        range count per status, grouped in SQL (no order decoded)."""
        from orderkit.adapters._watch import checked_group_by, checked_query

        codes, anchor, before, _ = checked_query(statuses, anchor, before)
        by = checked_group_by(group_by)
        expression = _ANCHOR_SQL[anchor]
        source, condition, arguments = _stale_filter(anchor, terms, leave_out)
        key = "''" if by is None else _GROUP_SQL[by]
        counts: dict[str, int] = {}
        with self._db.read("count stale orders") as conn:
            for code in codes:
                for group, count in conn.execute(
                    f"SELECT {key}, count(*) FROM {source}"
                    f" WHERE {expression} < ?{condition} AND status = ? GROUP BY 1",
                    (_iso(before), *arguments, code),
                ):
                    counts[str(group)] = counts.get(str(group), 0) + int(count)
        return dict(sorted(counts.items()))

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
        if not codes:
            return {}
        expression = _ANCHOR_SQL[anchor]
        source, condition, arguments = _stale_filter(anchor, terms, leave_out)
        marks = ", ".join("?" * len(codes))
        sql = (
            f"SELECT w.g, w.n, w.at, w.order_id, o.body FROM (SELECT g, at, order_id,"
            f" row_number() OVER (PARTITION BY g ORDER BY at, order_id) AS r,"
            f" count(*) OVER (PARTITION BY g) AS n FROM (SELECT {_GROUP_SQL[by]} AS g,"
            f" {expression} AS at, order_id FROM {source}"
            f" WHERE {expression} < ?{condition} AND status IN ({marks}))) AS w"
            f" JOIN orders AS o USING (order_id) WHERE w.r <= ?"
        )
        with self._db.read("stale orders by group") as conn:
            rows = conn.execute(sql, (_iso(before), *arguments, *codes, limit)).fetchall()
        rows.sort(key=lambda row: (str(row[0]), datetime.fromisoformat(row[2]), row[3]))
        found: dict[str, tuple[int, list[Order]]] = {}
        for group, count, _at, _id, body in rows:
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
        indexed range count per stored status (the statuses come from their index)."""
        from orderkit.adapters._watch import checked_count

        query = checked_count(anchor, since, until, statuses, leave_out, due_by)
        start = "" if query.since is None else _iso(query.since)
        expression = _ANCHOR_SQL[query.anchor]
        source, condition, arguments = _stale_filter(query.anchor, None, query.leave_out)
        if query.due_by is not None:
            condition += " AND (ship_due_at IS NULL OR ship_due_at < ?)"
            arguments += (_iso(query.due_by),)
        counts: dict[int, int] = {}
        with self._db.read("count orders by status") as conn:
            codes = [row[0] for row in conn.execute(_STATUSES_SQL)
                     if query.statuses is None or row[0] in query.statuses]
            for code in codes:
                (count,) = conn.execute(
                    f"SELECT count(*) FROM {source} WHERE status = ?"
                    f" AND {expression} >= ? AND {expression} < ?{condition}",
                    (code, start, _iso(query.until), *arguments),
                ).fetchone()
                if count:
                    counts[int(code)] = int(count)
        return dict(sorted(counts.items()))

    def first_scans(self, since: datetime, until: datetime) -> list[FirstScan]:
        """See :meth:`orderkit.lifecycle.ports.OrderRepository.first_scans`: one range
        read of index ``orders_by_first_shipped``, the parcel's fields taken in SQL."""
        from orderkit.lifecycle.ports import FirstScan

        start = _iso(ensure_aware(since, path="since"))
        end = _iso(ensure_aware(until, path="until"))
        first = "json_extract(body, '$.shipments[0].shipped_at')"
        with self._db.read("first scans") as conn:
            rows = conn.execute(
                f"SELECT order_id, channel, json_extract(body, '$.shipments[0].carrier'),"
                f" json_extract(body, '$.shipments[0].waybill'), {first},"
                f" json_extract(body, '$.shipments[0].first_scan_at'),"
                f" json_extract(body, '$.tags')"
                f" FROM orders INDEXED BY orders_by_first_shipped"
                f" WHERE {first} IS NOT NULL AND {first} >= ? AND {first} < ?",
                (start, end),
            ).fetchall()
        found = [
            FirstScan(order_id, channel, carrier or "", waybill or "",
                      datetime.fromisoformat(shipped), None if scanned is None
                      else datetime.fromisoformat(scanned),
                      frozenset(json.loads(tags)) if tags else frozenset())
            for order_id, channel, carrier, waybill, shipped, scanned, tags in rows
        ]
        found.sort(key=lambda scan: (scan.shipped_at, scan.order_id))
        return found

    def find_by_waybill(self, waybill: str) -> list[Order]:
        """Every order with a shipment carrying ``waybill``, by order id."""
        stored_key("waybill", waybill, blank=False)
        with self._db.read("find orders by waybill") as conn:
            rows = conn.execute(
                "SELECT o.body FROM order_waybills AS w JOIN orders AS o USING (order_id)"
                " WHERE w.waybill = ? ORDER BY o.order_id",
                (waybill,),
            ).fetchall()
        orders = [_load(row[0]) for row in rows]
        return [o for o in orders if any(s.waybill == waybill for s in o.shipments)]

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
        body = _dumps(data)
        audit_rows = _audit_rows(order.order_id, entries)
        outbox_rows = _outbox_rows(order.order_id, outbox)
        # The stored version this save replaces, when this process read or saved it: a
        # version is one value in every process, so it is the stored row whenever the
        # version check below passes, and the address and waybill checks read it here.
        previous = (
            None if expected_version is None
            else self._cache.at(order.order_id, expected_version)
        )
        try:
            # The constraints refuse what reads would (a stale version, a taken order
            # id, channel order id or message id), and only two statements can be
            # refused: the order's row, written first, and the outbox rows. Inside an
            # outer transaction a save with outbox rows is a savepoint, so that a
            # refused save leaves none of its writes behind; without them the refusable
            # write is the first, and the save joins the outer transaction as it is.
            with self._db.write("save order", savepoint=bool(outbox_rows)) as conn:
                moved: tuple[Address | None] | None = None  # the previous address, if moved
                if expected_version is None:
                    self._insert(conn, order, body)
                else:
                    moved = self._update(conn, order, body, expected_version, previous,
                                         data["ship_to"])
                if outbox_rows:
                    _insert_messages(conn, outbox_rows)
                if audit_rows:
                    conn.executemany(
                        "INSERT INTO order_audit (order_id, body) VALUES (?, ?)", audit_rows
                    )
                if moved is not None:
                    change = address_version(
                        moved[0], order.order_id, order.version, order.ship_to, entries,
                    )
                    conn.execute(
                        "INSERT OR REPLACE INTO order_addresses (order_id, version, body)"
                        " VALUES (?, ?, ?)",
                        (order.order_id, order.version, _dumps(to_dict(change))),
                    )
                known = set() if previous is None else {s.waybill for s in previous.shipments}
                waybills = [(w, order.order_id) for w in {s.waybill for s in order.shipments}
                            if w and w not in known]
                if waybills:
                    conn.executemany(
                        "INSERT OR IGNORE INTO order_waybills (waybill, order_id) VALUES (?, ?)",
                        waybills,
                    )
                # Only a committed version may be served from the cache.
                self._db.after_commit(lambda: self._cache.remember(order))
        except _TakenMessageId:
            # Named after the rollback, so that only ids stored before this save count.
            with self._db.read("find stored outbox ids") as conn:
                _refuse_stored_ids(conn, [r[0] for r in outbox_rows])
            raise StoreError("save order", "an outbox message id is taken") from None

    def _insert(self, conn: sqlite3.Connection, order: Order, body: str) -> None:
        """Insert a new order: a stored order id is a :class:`ConcurrencyError`, a taken
        ``(channel, channel_order_id)`` a :class:`DuplicateOrder`."""
        try:
            conn.execute(
                "INSERT INTO orders (order_id, channel, channel_order_id, status, version, body,"
                f" {_DERIVED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, {_DERIVED_MARKS})",
                (order.order_id, order.channel, order.channel_order_id, int(order.status),
                 order.version, body, *_derived(order, tz=self._ship_from_tz)),
            )
        except sqlite3.IntegrityError as error:
            row = conn.execute(
                "SELECT version FROM orders WHERE order_id = ?", (order.order_id,)
            ).fetchone()
            if row is not None:
                raise ConcurrencyError(order.order_id, None, int(row[0])) from None
            raise _duplicate(conn, order) from error

    def _update(
        self,
        conn: sqlite3.Connection,
        order: Order,
        body: str,
        expected: int,
        previous: Order | None,
        ship_to: object,
    ) -> tuple[Address | None] | None:
        """Replace the stored version ``expected`` of the order (one statement, which is
        the version check too). Returns ``(previous address,)`` when the address
        changed, else ``None``. ``previous`` is the stored version when this process
        knows it; otherwise the stored address is read (``ship_to`` is the new one as
        JSON values)."""
        moved: tuple[Address | None] | None = None
        if previous is not None:
            if previous.ship_to != order.ship_to:
                moved = (previous.ship_to,)
        else:
            row = conn.execute(
                "SELECT json_extract(body, '$.ship_to') FROM orders"
                " WHERE order_id = ? AND version = ?",
                (order.order_id, expected),
            ).fetchone()
            stored = None if row is None or row[0] is None else json.loads(row[0])
            if row is not None and stored != ship_to:
                moved = (None if stored is None else from_dict(Address, stored),)
        # The channel columns are only written when they change: an unchanged unique
        # index is neither checked nor rewritten.
        same_channel = previous is not None and (
            previous.channel, previous.channel_order_id
        ) == (order.channel, order.channel_order_id)
        try:
            if same_channel:
                cursor = conn.execute(
                    "UPDATE orders SET status = ?, version = ?, body = ?,"
                    f" {_DERIVED_SET} WHERE order_id = ? AND version = ?",
                    (int(order.status), order.version, body,
                     *_derived(order, tz=self._ship_from_tz), order.order_id, expected),
                )
            else:
                cursor = conn.execute(
                    "UPDATE orders SET channel = ?, channel_order_id = ?, status = ?,"
                    f" version = ?, body = ?, {_DERIVED_SET}"
                    " WHERE order_id = ? AND version = ?",
                    (order.channel, order.channel_order_id, int(order.status), order.version,
                     body, *_derived(order, tz=self._ship_from_tz), order.order_id, expected),
                )
        except sqlite3.IntegrityError as error:
            raise _duplicate(conn, order) from error
        if cursor.rowcount != 1:
            row = conn.execute(
                "SELECT version FROM orders WHERE order_id = ?", (order.order_id,)
            ).fetchone()
            raise ConcurrencyError(order.order_id, expected, None if row is None else int(row[0]))
        return moved

    def insert_many(
        self, placements: Sequence[tuple[Order, Sequence[AuditEntry], Sequence[OutboxMessage]]]
    ) -> None:
        """Insert new orders with their audit entries and outbox messages in one
        transaction of multi-row statements: one check that no order id, channel order
        id or message id is stored, then one insert per table."""
        rows: list[tuple[str | int | None, ...]] = []
        audit_rows: list[tuple[str, str]] = []
        outbox_rows: list[_Row] = []
        waybills: list[tuple[str, str]] = []
        orders: list[Order] = []
        ids: dict[str, None] = {}
        keys: dict[tuple[str, str], str] = {}
        for index, placement in enumerate(placements):
            order, audit, outbox = placement
            if not isinstance(order, Order):
                raise ValidationError(f"placements[{index}]", order, "expected an Order")
            if order.order_id in ids:
                raise ConcurrencyError(order.order_id, None, order.version)
            holder = keys.get((order.channel, order.channel_order_id))
            if holder is not None:
                raise DuplicateOrder(order.channel, order.channel_order_id, holder)
            ids[order.order_id] = None
            keys[(order.channel, order.channel_order_id)] = order.order_id
            orders.append(order)
            rows.append((order.order_id, order.channel, order.channel_order_id,
                         int(order.status), order.version, _dumps(to_dict(order)),
                         *_derived(order, tz=self._ship_from_tz)))
            audit_rows += _audit_rows(order.order_id, checked_entries(audit))
            outbox_rows += _outbox_rows(order.order_id, outbox)
            waybills += [(w, order.order_id) for w in {s.waybill for s in order.shipments} if w]
        if not rows:
            return
        # Every check that can refuse the write runs before its first write.
        with self._db.write("insert orders", savepoint=False) as conn:
            stored = conn.execute(
                "SELECT order_id, version FROM orders"
                " WHERE order_id IN (SELECT value FROM json_each(?)) LIMIT 1",
                (json.dumps(list(ids)),),
            ).fetchone()
            if stored is not None:
                raise ConcurrencyError(stored[0], None, int(stored[1]))
            held = conn.execute(
                f"SELECT o.channel, o.channel_order_id, o.order_id{_BY_CHANNEL_KEYS} LIMIT 1",
                (json.dumps(list(keys)),),
            ).fetchone()
            if held is not None:
                raise DuplicateOrder(held[0], held[1], held[2])
            if outbox_rows:
                _refuse_stored_ids(conn, [r[0] for r in outbox_rows])
            conn.executemany(
                "INSERT INTO orders (order_id, channel, channel_order_id, status, version,"
                f" body, {_DERIVED_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, {_DERIVED_MARKS})",
                rows,
            )
            if waybills:
                conn.executemany(
                    "INSERT OR IGNORE INTO order_waybills (waybill, order_id) VALUES (?, ?)",
                    waybills,
                )
            if audit_rows:
                conn.executemany(
                    "INSERT INTO order_audit (order_id, body) VALUES (?, ?)", audit_rows
                )
            if outbox_rows:
                _insert_messages(conn, outbox_rows)

            def remember() -> None:
                for order in orders:
                    self._cache.remember(order)

            # Only committed versions may be served from the cache.
            self._db.after_commit(remember)

    def record_audit(self, order_id: str, entries: Sequence[AuditEntry]) -> None:
        """Append audit entries without touching the order."""
        stored_key("order_id", order_id)
        rows = _audit_rows(order_id, checked_entries(entries))
        if rows:
            with self._db.write("record audit") as conn:
                conn.executemany("INSERT INTO order_audit (order_id, body) VALUES (?, ?)", rows)

    def audit_trail(self, order_id: str) -> list[AuditEntry]:
        """The order's audit entries, oldest first."""
        stored_key("order_id", order_id)
        with self._db.read("read audit trail") as conn:
            rows = conn.execute(
                "SELECT body FROM order_audit WHERE order_id = ? ORDER BY seq", (order_id,)
            ).fetchall()
        return [from_dict(AuditEntry, json.loads(row[0])) for row in rows]

    def address_history(self, order_id: str) -> list[AddressVersion]:
        """The order's address changes, oldest first."""
        stored_key("order_id", order_id)
        with self._db.read("read address history") as conn:
            rows = conn.execute(
                "SELECT body FROM order_addresses WHERE order_id = ? ORDER BY version",
                (order_id,),
            ).fetchall()
        return [from_dict(AddressVersion, json.loads(row[0])) for row in rows]

    # --- the outbox store ----------------------------------------------------------------

    def enqueue(self, messages: Sequence[OutboxMessage]) -> None:
        """Add messages no order save carries, in one transaction."""
        from orderkit.adapters import _outbox

        rows = [_row(m, _outbox.payload_json(m)) for m in _outbox.checked_enqueue(messages)]
        if not rows:
            return
        try:
            with self._db.write("enqueue outbox messages") as conn:
                _insert_messages(conn, rows)
        except _TakenMessageId:
            with self._db.read("find stored outbox ids") as conn:
                _refuse_stored_ids(conn, [r[0] for r in rows], path="messages")
            raise StoreError("enqueue outbox messages", "an outbox message id is taken") from None

    def pending(
        self, limit: int, *, consumer: Consumer | None = None, now: datetime | None = None
    ) -> list[StoredMessage]:
        """Up to ``limit`` pending messages, oldest (lowest ``seq``) first: those of
        ``consumer`` only, when given (through ``order_outbox_lane``), and with ``now``
        none waiting out a back-off nor behind one in its order's lane (probed in
        ``order_outbox_waiting``, which holds only failed rows)."""
        count = quantity("limit", limit)
        where, args = "o.status = 'pending'", list[object]()
        if consumer is not None or now is not None:
            from orderkit.adapters._outbox import checked_lane

            wanted, at = checked_lane(consumer, now)
            if wanted is not None:
                where += " AND o.consumer = ?"
                args.append(wanted)
            if at is not None:
                where += _READY
                args += [_us(at), _us(at)]
        with self._db.statement("read pending outbox messages") as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM order_outbox AS o"
                f" WHERE {where} ORDER BY o.seq LIMIT ?",
                (*args, count),
            ).fetchall()
        return [_stored(row) for row in rows]

    def delivery_counts(self, since: datetime, until: datetime) -> tuple[int, int]:
        """``(retried, attempted)`` deliveries of the outbox messages created in
        ``[since, until)`` (aware), counted in SQL: a message was tried ``attempts``
        times without success, plus once more if it was delivered, and every try after
        its first was a retry. The health page's retry rate (``orderkit health``).
        A message put back in line by ``requeue`` starts its count again."""
        low = _us(ensure_aware(since, path="since"))
        high = _us(ensure_aware(until, path="until"))
        with self._db.statement("count outbox deliveries") as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(tries), 0), COALESCE(SUM(MAX(tries - 1, 0)), 0) FROM"
                " (SELECT attempts + (status = 'delivered') AS tries FROM order_outbox"
                "  WHERE created_us >= ? AND created_us < ?)",
                (low, high),
            ).fetchone()
        return int(row[1]), int(row[0])

    def mark_delivered(self, message_ids: Sequence[str], at: datetime) -> None:
        """Mark these messages delivered at ``at``; unknown or delivered ones are skipped."""
        from orderkit.adapters import _outbox

        ids = _outbox.checked_ids(message_ids)
        delivered_us = _us(ensure_aware(at, path="at"))
        if not ids:
            return
        with self._db.write("mark outbox messages delivered", savepoint=False) as conn:
            conn.execute(
                "UPDATE order_outbox SET status = 'delivered', delivered_us = ?"
                " WHERE message_id IN (SELECT value FROM json_each(?))"
                " AND status != 'delivered'",
                (delivered_us, json.dumps(ids)),
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
        retry_us = None if retry_at is None else _us(ensure_aware(retry_at, path="retry_at"))
        with self._db.write("record an outbox message's failure", savepoint=False) as conn:
            conn.execute(
                "UPDATE order_outbox SET attempts = attempts + 1, error = ?, status = ?,"
                " retry_us = ? WHERE message_id = ? AND status = 'pending'",
                (text, status, retry_us, message_id),
            )

    def dead_letters(self) -> list[StoredMessage]:
        """Every dead message, oldest first."""
        with self._db.statement("read dead outbox messages") as conn:
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM order_outbox"
                " WHERE status = 'dead' ORDER BY seq"
            ).fetchall()
        return [_stored(row) for row in rows]

    def dead_letter_count(self) -> int:
        """How many dead messages wait for a replay (through ``order_outbox_dead``)."""
        with self._db.statement("count dead outbox messages") as conn:
            row = conn.execute("SELECT count(*) FROM order_outbox WHERE status = 'dead'").fetchone()
        return int(row[0])

    def replay(self, message_id: str) -> bool:
        """Make a dead message pending again, attempts and error cleared; ``False`` when
        no dead message has that id."""
        from orderkit.adapters import _outbox

        message_id = _outbox.checked_id(message_id)
        with self._db.write("replay outbox message", savepoint=False) as conn:
            cursor = conn.execute(
                "UPDATE order_outbox SET status = 'pending', attempts = 0, error = '',"
                " retry_us = NULL"
                " WHERE message_id = ? AND status = 'dead'",
                (message_id,),
            )
            return cursor.rowcount == 1

    def purge_delivered(self, before: datetime, *, limit: int | None = None) -> int:
        """Delete up to ``limit`` (all when ``None``) messages delivered before
        ``before``, earliest delivered first, in one statement through
        ``order_outbox_delivered``, in a transaction of its own (or the open block's);
        pending and dead ones stay (see ``OutboxRetention``)."""
        from orderkit.adapters._outbox import checked_purge

        cutoff, count = checked_purge(before, limit)
        with self._db.write("purge delivered outbox messages", savepoint=False) as conn:
            cursor = conn.execute(
                "DELETE FROM order_outbox WHERE seq IN (SELECT seq FROM order_outbox"
                " INDEXED BY order_outbox_delivered WHERE status = 'delivered'"
                " AND delivered_us < ? ORDER BY delivered_us LIMIT ?)",
                (_us(cutoff), -1 if count is None else count),
            )
            return cursor.rowcount

    def oldest_pending(self) -> datetime | None:
        """When the earliest created pending message was created (``None``: none waits)."""
        with self._db.statement("read oldest pending outbox message") as conn:
            row = conn.execute(
                "SELECT MIN(created_us) FROM order_outbox WHERE status = 'pending'"
            ).fetchone()
        return None if row is None or row[0] is None else _dt(int(row[0]))


class _TakenMessageId(Exception):
    """An outbox message id is stored already: raised out of the write block, so that
    the id is named (by :func:`_refuse_stored_ids`) after the block's rollback."""


def _insert_messages(conn: sqlite3.Connection, rows: list[_Row]) -> None:
    """Insert outbox rows; a message id stored already (the unique index refuses it)
    raises :class:`_TakenMessageId`."""
    try:
        conn.executemany(
            "INSERT INTO order_outbox (message_id, order_id, topic, payload, created_us,"
            " occurred_us, order_version, message_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    except sqlite3.IntegrityError as error:
        if "order_outbox.message_id" not in str(error):
            raise
        raise _TakenMessageId from error


def _duplicate(conn: sqlite3.Connection, order: Order) -> DuplicateOrder:
    """The error for ``order`` claiming a ``(channel, channel_order_id)`` another order
    holds (the only unique key an order row can break besides its id)."""
    holder = conn.execute(
        "SELECT order_id FROM orders WHERE channel = ? AND channel_order_id = ?",
        (order.channel, order.channel_order_id),
    ).fetchone()
    return DuplicateOrder(
        order.channel, order.channel_order_id, "?" if holder is None else holder[0]
    )


def _audit_rows(order_id: str, entries: Sequence[AuditEntry]) -> list[tuple[str, str]]:
    """The ``order_audit`` rows of checked ``entries``."""
    return [(order_id, _dumps(to_dict(entry))) for entry in entries]


def _row(m: OutboxMessage, payload: str) -> _Row:
    occurred = None if m.occurred_at is None else _us(m.occurred_at)
    return (m.message_id, m.order_id, m.topic, payload, _us(m.created_at), occurred,
            m.order_version, m.index)


def _outbox_rows(order_id: str, outbox: Sequence[OutboxMessage]) -> list[_Row]:
    """The ``order_outbox`` rows of a save's ``outbox``, checked (none given: none, and
    the outbox capability is not loaded)."""
    if not outbox and isinstance(outbox, Sequence):
        return []
    from orderkit.adapters import _outbox  # the outbox only loads when used

    return [_row(m, payload) for m, payload in _outbox.checked_messages(order_id, outbox)]


def _refuse_stored_ids(conn: sqlite3.Connection, ids: list[str], *, path: str = "outbox") -> None:
    """Refuse the write when one of its message ids is already stored (any status),
    naming ``path[i].message_id``."""
    from orderkit.adapters import _outbox

    taken = {
        row[0]
        for row in conn.execute(
            "SELECT message_id FROM order_outbox"
            " WHERE message_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),),
        )
    }
    _outbox.refuse_stored_ids(taken, ids, path)


def _stored(row: tuple[Any, ...]) -> StoredMessage:
    from orderkit.adapters._outbox import OutboxMessage, StoredMessage

    (message_id, order_id, topic, payload, created_us, status, attempts, error, retry_us,
     occurred_us, order_version, index) = row
    message = OutboxMessage(
        message_id=message_id,
        order_id=order_id,
        topic=topic,
        payload=payload,  # the stored JSON text, which the message checks as it parses it
        created_at=_dt(int(created_us)),
        occurred_at=None if occurred_us is None else _dt(int(occurred_us)),
        order_version=order_version,
        index=index,
    )
    return StoredMessage(
        message,
        status=status,
        attempts=int(attempts),
        error=error,
        retry_at=None if retry_us is None else _dt(int(retry_us)),
    )


def _us(instant: datetime) -> int:
    delta = instant - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


#: One encoder for every row this module writes (``json.dumps`` with arguments builds a
#: new one per call).
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(data: Any) -> str:
    return _ENCODER.encode(data)


#: The instants every save writes beside the order in columns of the same names: the
#: watch's anchors derived from the whole order (the model's properties of those names,
#: and ``paid_at``, ``ship_due_at`` and ``balance_due_since`` as
#: :func:`orderkit.adapters._watch.anchor_of` says), each ``NULL``
#: unless the order has it.
_DERIVED: Final[tuple[Anchor, ...]] = (
    "return_requested_since", "refund_due_since", "partly_shipped_since", "paid_at",
    "ship_due_at", "balance_due_since",
)
_DERIVED_COLUMNS: Final = ", ".join(_DERIVED)
_DERIVED_MARKS: Final = ", ".join("?" for _column in _DERIVED)
_DERIVED_SET: Final = ", ".join(f"{column} = ?" for column in _DERIVED)


def _derived(
    order: Order, columns: Sequence[Anchor] = _DERIVED, *, tz: str = DEFAULT_ACCOUNTING_TZ
) -> tuple[str | None, ...]:
    """The order's derived ``columns`` as they are stored (ISO text or ``None``), a
    presale's ship-from day beginning in ``tz`` (the file's ship-from zone)."""
    from orderkit.adapters._watch import anchor_of

    instants: list[datetime | None] = [anchor_of(order, column, tz=tz) for column in columns]
    return tuple(None if at is None else _iso(at) for at in instants)


def _ship_from_tz(conn: sqlite3.Connection) -> str:
    """The file's ship-from zone (table ``order_settings``)."""
    row = conn.execute("SELECT value FROM order_settings WHERE name = 'ship_from_tz'").fetchone()
    return DEFAULT_ACCOUNTING_TZ if row is None else str(row[0])


def _fill_paid_at(conn: sqlite3.Connection) -> None:
    """The upgrade step filling ``paid_at`` of the orders in a paid status without one
    (the watch's statuses, read when a file is upgraded, not when this is imported)."""
    from orderkit.adapters._watch import paid_statuses_sql

    _fill(conn, "json_extract(body, '$.paid_at') IS NULL"
          f" AND status IN ({paid_statuses_sql()})", ("paid_at",))


def _fill(conn: sqlite3.Connection, where: str, columns: Sequence[Anchor], *,
          tz: str = DEFAULT_ACCOUNTING_TZ) -> None:
    """A migration step that fills derived ``columns`` of the orders stored before them,
    reading only the orders ``where`` (SQL on ``body``) says may have one (the
    migrations run in the zone every release before derived them in)."""
    rows = conn.execute(f"SELECT order_id, body FROM orders WHERE {where}").fetchall()
    filled = [(*_derived(_load(body), columns, tz=tz), order_id) for order_id, body in rows]
    assignments = ", ".join(f"{column} = ?" for column in columns)
    conn.executemany(f"UPDATE orders SET {assignments} WHERE order_id = ?",
                     [row for row in filled if any(v is not None for v in row[:-1])])


def _stale_filter(anchor: Anchor, terms: object,
                  leave_out: object = ()) -> tuple[str, str, tuple[str, ...]]:
    """What the stale query and its count read for ``anchor``, ``terms`` and
    ``leave_out`` (derived columns that must be empty): the source (see
    :func:`_source`), the condition and its arguments."""
    from orderkit.adapters._watch import checked_leave_out, checked_terms

    kept = checked_terms(terms)
    source, condition = _source(anchor)
    for column in checked_leave_out(leave_out):
        condition += f" AND {column} IS NULL"
    if kept is None:
        return source, condition, ()
    # Orders stored before payment terms existed are prepaid.
    condition += " AND coalesce(json_extract(body, '$.payment_terms'), 'prepaid') = ?"
    return source, condition, (kept.value,)


def _source(anchor: Anchor) -> tuple[str, str]:
    """What the stale query and the counts read for ``anchor``: the table (through the
    anchor's partial index, when it has one) and the condition that keeps a row in it."""
    partial = _PARTIAL.get(anchor)
    if partial is None:
        return "orders", ""
    index, condition = partial
    return f"orders INDEXED BY {index}", condition


def _load(body: str) -> Order:
    return from_dict(Order, json.loads(body))


def _iso(moment: datetime) -> str:
    """``moment`` (UTC) as the order's JSON writes instants, so that text compares as
    time does."""
    return moment.astimezone(UTC).isoformat()
