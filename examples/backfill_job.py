"""A backfill job: read a past window of a platform's orders again, through the same path.

Usage: ``python examples/backfill_job.py --platform jd --feed FEED.jsonl --db PATH
--since 2026-02-14T00:00:00+08:00 --until 2026-02-17T00:00:00+08:00``

``--since`` and ``--until`` are read as ``orderkit backfill`` reads them
(:func:`orderkit.parse_timestamp` with UTC for text without an offset, so
``--since 2026-02-14`` is midnight UTC); a time it cannot read is a usage error.

After an outage (a gateway that timed out, a callback parser that broke), re-read the
window: :meth:`Sync.backfill` reads every order the platform changed in ``[since,
until]`` window by window, one commit per page. Orders already stored are unchanged,
newer versions become events, nothing is applied twice, and the polling cursor does not
move. Then :meth:`Sync.replay_dead_letters` re-runs what could not be mapped (after a
map fix). Here the API is :class:`orderkit.testing.FileChannelClient` over a JSON-lines
file; a host passes its own ``ChannelClient``. Exits 1 when dead letters remain.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from orderkit import parse_timestamp
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
from orderkit.lifecycle import OrderService
from orderkit.model.errors import ValidationError
from orderkit.sync import Sync
from orderkit.testing import FileChannelClient


def instant(text: str) -> datetime:
    """``text`` as an aware time, the way ``orderkit backfill`` reads ``--since``: ISO
    8601, UTC when it has no offset."""
    try:
        return parse_timestamp(text, source_tz="UTC", path="time")
    except ValidationError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error.reason}") from error


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", required=True)
    parser.add_argument("--feed", required=True, help="JSON-lines file the client reads")
    parser.add_argument("--db", required=True, help="the orders' SQLite file")
    parser.add_argument("--since", required=True, type=instant, metavar="ISO",
                        help="window start, ISO 8601 (UTC without an offset)")
    parser.add_argument("--until", required=True, type=instant, metavar="ISO",
                        help="window end, ISO 8601 (UTC without an offset)")
    args = parser.parse_args(argv)
    repository = SQLiteOrderRepository(args.db)
    store = SQLiteSyncStore(args.db)
    sync = Sync(repository, OrderService(repository), store=store)
    client = FileChannelClient(args.feed, platform=args.platform)
    report = sync.backfill(args.platform, client, args.since, args.until)
    print(f"backfill {args.platform}: {report.summary()}")
    replayed = sync.replay_dead_letters(args.platform)
    if replayed.total:
        print(f"replayed dead letters: {replayed.summary()}")
    letters = store.dead_letters(args.platform)
    for letter in letters:
        print(f"dead letter {letter.letter_id}: {letter.error}")
    return 1 if letters else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
