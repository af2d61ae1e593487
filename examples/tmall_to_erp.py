"""Feed Tmall trades to an ERP: map them, store them in SQLite, print the canonical orders.

Usage: ``python examples/tmall_to_erp.py [TRADES_FILE] [--db PATH]``

``TRADES_FILE`` holds the ``trade`` objects of ``taobao.trade.fullinfo.get``, as a JSON
array or one per line; without it the script reads orderkit's own Tmall sample (the
trade ``orderkit demo`` shows). Every trade that maps is stored in the SQLite file
``--db`` (a temporary one when omitted) through ``OrderService.place``, read back and
printed as one canonical JSON line (what an ERP import job would consume); a trade
stored by an earlier run is printed as stored, not placed twice. Every trade that does
not map is reported on stderr with the field path, and the script exits 1 so the job is
retried instead of silently skipping an order.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from decimal import Decimal
from importlib import resources
from pathlib import Path

from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.lifecycle import OrderService
from orderkit.mapping import normalize_many
from orderkit.model.orders import Order
from orderkit.serialization import to_dict


def read_trades(path: Path | None) -> list[object]:
    """A JSON array of trades, or JSON lines (orderkit's Tmall sample when ``path`` is
    ``None``); floats kept exact as ``Decimal``."""
    if path is None:
        sample = resources.files("orderkit.mapping").joinpath("samples", "tmall.json")
        return [json.loads(sample.read_text(encoding="utf-8"), parse_float=Decimal)]
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        trades: list[object] = json.loads(text, parse_float=Decimal)
        return trades
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines() if line.strip()]


def store(db: str, orders: list[Order]) -> tuple[list[Order], int]:
    """Place each order not stored yet; every order as the SQLite file holds it, and
    how many were new."""
    repository = SQLiteOrderRepository(db)
    service = OrderService(repository)
    stored: list[Order] = []
    new = 0
    for order in orders:
        found = repository.find_by_channel(order.channel, order.channel_order_id)
        if found is None:
            service.place(order)
            new += 1
        stored.append(repository.get(order.order_id))
    return stored, new


def run(trades: list[object], db: str) -> int:
    result = normalize_many("tmall", trades)
    stored, new = store(db, list(result.orders))
    for order in stored:
        totals = order.totals
        row = to_dict(order)
        row["totals"] = {"goods": str(totals.goods.amount), "payable": str(totals.payable.amount),
                         "platform_funded": str(totals.platform_funded.amount)}
        print(json.dumps(row, ensure_ascii=False, sort_keys=True))
    print(f"stored {new} new, {len(stored) - new} already stored", file=sys.stderr)
    for failure in result.failures:
        error = failure.error
        print(f"trade #{failure.index}: {error.path}: {error.reason}", file=sys.stderr)
    return 0 if result.ok else 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trades", nargs="?", type=Path, help="JSON array or JSON lines")
    parser.add_argument("--db", help="the ERP's SQLite file (default: a temporary one)")
    args = parser.parse_args(argv)
    trades = read_trades(args.trades)
    if args.db is not None:
        return run(trades, args.db)
    with tempfile.TemporaryDirectory() as scratch:
        return run(trades, str(Path(scratch) / "erp.db"))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
