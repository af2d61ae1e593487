"""``OrderRepository`` on SQLite: one row per order, the order as canonical JSON."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Final

from orderkit.adapters.sqlite._db import Database
from orderkit.errors import ConcurrencyError, DuplicateOrder, OrderNotFound, ValidationError
from orderkit.orders import Order
from orderkit.serialization import from_dict, to_dict

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
)


class SQLiteOrderRepository:
    """Orders in a SQLite file, safe for several processes on one machine.

    ``save`` checks the stored version and writes in one ``BEGIN IMMEDIATE``
    transaction, so of two processes saving on top of the same version exactly one wins.
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        self._db = Database(path, durable=durable)
        self._db.ensure_schema("orders", _MIGRATIONS)

    @property
    def database(self) -> Database:
        """The underlying file handle (shared with other adapters on the same file)."""
        return self._db

    def get(self, order_id: str) -> Order:
        """The stored order; :class:`OrderNotFound` when absent."""
        with self._db.read("get order") as conn:
            row = conn.execute("SELECT body FROM orders WHERE order_id = ?", (order_id,)).fetchone()
        if row is None:
            raise OrderNotFound(order_id)
        return _load(row[0])

    def find_by_channel(self, channel: str, channel_order_id: str) -> Order | None:
        """The order holding ``channel_order_id`` on ``channel``, or ``None``."""
        with self._db.read("find order by channel") as conn:
            row = conn.execute(
                "SELECT body FROM orders WHERE channel = ? AND channel_order_id = ?",
                (channel, channel_order_id),
            ).fetchone()
        return None if row is None else _load(row[0])

    def save(self, order: Order, expected_version: int | None) -> None:
        """Insert or replace ``order`` if the stored version is ``expected_version``."""
        if not isinstance(order, Order):
            raise ValidationError("order", order, "expected an Order")
        body = json.dumps(to_dict(order), ensure_ascii=False, separators=(",", ":"))
        with self._db.write("save order") as conn:
            row = conn.execute(
                "SELECT version FROM orders WHERE order_id = ?", (order.order_id,)
            ).fetchone()
            stored = None if row is None else int(row[0])
            if stored != expected_version:
                raise ConcurrencyError(order.order_id, expected_version, stored)
            holder = conn.execute(
                "SELECT order_id FROM orders WHERE channel = ? AND channel_order_id = ?",
                (order.channel, order.channel_order_id),
            ).fetchone()
            if holder is not None and holder[0] != order.order_id:
                raise DuplicateOrder(order.channel, order.channel_order_id, holder[0])
            try:
                conn.execute(
                    "INSERT INTO orders (order_id, channel, channel_order_id, status, version, body)"
                    " VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (order_id) DO UPDATE SET channel = excluded.channel,"
                    " channel_order_id = excluded.channel_order_id, status = excluded.status,"
                    " version = excluded.version, body = excluded.body",
                    (
                        order.order_id,
                        order.channel,
                        order.channel_order_id,
                        int(order.status),
                        order.version,
                        body,
                    ),
                )
            except sqlite3.IntegrityError as error:  # pragma: no cover - guarded above
                raise DuplicateOrder(order.channel, order.channel_order_id, "?") from error


def _load(body: str) -> Order:
    return from_dict(Order, json.loads(body))
