"""Feed Tmall trades to an ERP as canonical orders.

Usage: ``python examples/tmall_to_erp.py TRADES_FILE``

``TRADES_FILE`` holds the ``trade`` objects of ``taobao.trade.fullinfo.get``, as a JSON
array or one per line. Every trade that maps is printed as one canonical JSON line (what
an ERP import job would consume); every trade that does not is reported on stderr with
the field path, and the script exits 1 so the job is retried instead of silently
skipping an order.
"""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

from orderkit.mapping import normalize_many
from orderkit.serialization import to_dict


def read_trades(path: Path) -> list[object]:
    """A JSON array of trades, or JSON lines; floats kept exact as ``Decimal``."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        trades: list[object] = json.loads(text, parse_float=Decimal)
        return trades
    return [json.loads(line, parse_float=Decimal) for line in text.splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    result = normalize_many("tmall", read_trades(Path(argv[0])))
    for order in result.orders:
        totals = order.totals
        row = to_dict(order)
        row["totals"] = {"goods": str(totals.goods.amount), "payable": str(totals.payable.amount),
                         "platform_funded": str(totals.platform_funded.amount)}
        print(json.dumps(row, ensure_ascii=False, sort_keys=True))
    for failure in result.failures:
        error = failure.error
        print(f"trade #{failure.index}: {error.path}: {error.reason}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
