"""A polling job: every run reads the orders a platform changed since the last run.

Usage: ``python examples/polling_job.py --platform jd --feed FEED.jsonl --db PATH``

Run it every few minutes (cron, a scheduler): it is the floor under the webhooks. Each
run is one :meth:`Sync.poll`: it starts a settle margin before the cursor kept in the
SQLite file (or one window ago on the first run), reads the "changed orders" API window
by window, page by page (one commit per page), and moves the cursor only after a whole
window is stored, so a run that fails half-way is simply repeated by the next one.

Here the API is :class:`orderkit.testing.FileChannelClient` over a JSON-lines file of
payloads (one per line); a host passes its own ``ChannelClient`` for the platform's
API. Prints the summary and the cursor; exits 1 when a payload became a dead letter.
"""

from __future__ import annotations

import argparse
import sys

from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
from orderkit.lifecycle import OrderService
from orderkit.sync import Sync
from orderkit.testing import FileChannelClient


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", required=True)
    parser.add_argument("--feed", required=True, help="JSON-lines file the client reads")
    parser.add_argument("--db", required=True, help="the orders' SQLite file")
    parser.add_argument("--shop", default="", help="the shop the client reads")
    args = parser.parse_args(argv)
    repository = SQLiteOrderRepository(args.db)
    store = SQLiteSyncStore(args.db)
    sync = Sync(repository, OrderService(repository), store=store)
    client = FileChannelClient(args.feed, platform=args.platform, shop=args.shop)
    report = sync.poll(args.platform, client)
    print(f"poll {args.platform}: {report.summary()}")
    cursor = store.cursor(args.platform, client.shop)
    if cursor is not None:
        print(f"cursor: {cursor.modified_at.isoformat()} ({len(cursor.ids_at)} ids at it)")
    for letter in store.dead_letters(args.platform):
        print(f"dead letter {letter.letter_id}: {letter.error}")
    return 1 if report.dead_lettered else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
