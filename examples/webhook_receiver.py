"""Receive marketplace webhooks with the standard library and apply them with ``Sync``.

Usage: ``python examples/webhook_receiver.py --db PATH --secret PLATFORM=SECRET ...
[--host 127.0.0.1] [--port 8080]``

``POST /webhook/<platform>?<signed parameters>`` with one order payload (a JSON object)
as the body, the way the platform pushes it (``jd``, ``tmall``, ``taobao``, ``pdd``,
``douyin``, ``shopify``, ``woocommerce``). First the platform's signature is checked
(:mod:`orderkit.sync.signatures`), over the raw body and the query parameters exactly
as received: a missing or wrong one is answered ``401`` and nothing of the message is
read or stored. ``--secret`` gives each platform's secret (repeat it per platform;
Douyin takes ``douyin=APP_KEY:APP_SECRET``); a platform without one is refused. A
``--secret`` the example cannot use (no ``=``, a platform without a rule, Douyin's
without ``:``, a secret the checker refuses) is a one-line usage error (exit 2) that
names the platform but never echoes the secret. JD's
and Pinduoduo's rules sign parameters only, so the body is signed as the parameter it
stands for (JD ``360buy_param_json``; ``data`` for Pinduoduo, agreed with the sender).
Shopify (``X-Shopify-Hmac-Sha256``, keyed with the app's client secret) and WooCommerce
(``X-WC-Webhook-Signature``, keyed with the webhook's secret) sign the raw body with a
base64 HMAC-SHA256 header.
Every verified payload goes through :meth:`Sync.receive`: a new
order is placed, a later version becomes lifecycle events, a repeat is unchanged, an
older version is stale, and one that cannot be mapped is kept as a dead letter (answered
``202`` all the same: it is stored, and a platform that retries would only repeat it).
A body that is not a JSON object is answered ``400`` and not kept. The answer is the
``SyncReport`` as JSON. ``--port 0`` takes a free port; the first line printed names the
address. Ctrl-C (SIGINT) stops the server and prints the totals.

A production receiver also answers quickly and drains a queue with
``Sync.receive_many``, and reads its secrets from the environment or a vault rather than
the command line; this one shows the path.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Lock
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
from orderkit.lifecycle import OrderService
from orderkit.mapping import platforms
from orderkit.model.errors import InvalidSignature, OrderkitError, ValidationError
from orderkit.sync import Sync, SyncReport, parse_json
from orderkit.sync.signatures import (
    DouyinSignature,
    JdSignature,
    PddSignature,
    ShopifySignature,
    SignatureCheck,
    TopSignature,
    WebhookRequest,
    WooCommerceSignature,
)


def open_sync(db: str) -> Sync:
    """Orders and what sync saw on one SQLite file, so each receipt commits once. No
    stock ledger here; a host that keeps stock passes ``OrderService(..., inventory=)``."""
    repository = SQLiteOrderRepository(db)
    return Sync(repository, OrderService(repository), store=SQLiteSyncStore(db))


def _douyin(secret: str) -> DouyinSignature:
    app_key, colon, app_secret = secret.partition(":")
    if not colon:
        raise ValueError("expected APP_KEY:APP_SECRET")
    return DouyinSignature(app_key, app_secret)


#: Each platform's signing rule, built from its ``--secret``.
RULES: dict[str, Callable[[str], SignatureCheck]] = {
    "douyin": _douyin,
    "jd": JdSignature,
    "pdd": lambda secret: PddSignature(secret, body_param="data"),
    "shopify": ShopifySignature,
    "taobao": lambda secret: TopSignature(secret, platform="taobao"),
    "tmall": lambda secret: TopSignature(secret, platform="tmall"),
    "woocommerce": WooCommerceSignature,
}


def signature_check(platform: str, secret: str) -> SignatureCheck:
    """The platform's signing rule with its secret (Douyin: ``APP_KEY:APP_SECRET``).
    Raises ``ValueError`` (a ``ValidationError`` for a secret the checker refuses,
    which names the field, never the secret) when there is none."""
    build = RULES.get(platform)
    if build is None:
        raise ValueError(f"no signature rule (one of: {', '.join(sorted(RULES))})")
    return build(secret)


class Receiver(ThreadingHTTPServer):
    """An HTTP server holding the ``Sync``, the signature checks and the totals so far."""

    def __init__(
        self, address: tuple[str, int], sync: Sync, checks: dict[str, SignatureCheck]
    ) -> None:
        super().__init__(address, WebhookHandler)
        self.sync = sync
        self.checks = checks
        self.lock = Lock()  # one receipt at a time: the SQLite connection is shared
        self.total = SyncReport()


class WebhookHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        prefix = "/webhook/"
        url = urlsplit(self.path)
        platform = url.path[len(prefix):] if url.path.startswith(prefix) else ""
        if platform not in platforms():
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no platform {platform!r}"})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        check = self.server.checks.get(platform)
        if check is None:
            self._answer(HTTPStatus.UNAUTHORIZED,
                         {"error": f"no secret configured for {platform!r}"})
            return
        request = WebhookRequest(params=dict(parse_qsl(url.query, keep_blank_values=True)),
                                 headers=dict(self.headers.items()), body=body)
        try:
            check.verify(request)
        except InvalidSignature as error:
            print(f"{platform}: refused: {error}", flush=True)
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": str(error),
                                                   "field": error.field})
            return
        try:
            payload: Any = parse_json(body)  # NaN and Infinity refused, as JSON has none
        except ValueError as error:
            self._answer(HTTPStatus.BAD_REQUEST, {"error": f"not JSON: {error}"})
            return
        if not isinstance(payload, dict):
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "expected a JSON object"})
            return
        try:
            text: str | None = body.decode("utf-8")  # a repeat is known by its hash
        except UnicodeDecodeError:
            text = None
        with self.server.lock:
            try:
                report = self.server.sync.receive(platform, payload, text=text,
                                                  received_at=datetime.now(UTC))
            except OrderkitError as error:  # refused as a whole (an unknown platform)
                self._answer(HTTPStatus.BAD_REQUEST, {"error": str(error)})
                return
            self.server.total += report
        status = HTTPStatus.ACCEPTED if report.dead_lettered else HTTPStatus.OK
        print(f"{platform}: {report.summary()}", flush=True)
        self._answer(status, attrs.asdict(report))

    def _answer(self, status: HTTPStatus, body: dict[str, object]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: each receipt prints its own line."""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the orders' SQLite file")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 takes a free port")
    parser.add_argument("--secret", action="append", default=[], metavar="PLATFORM=SECRET",
                        help="a platform's signing secret (douyin=APP_KEY:APP_SECRET)")
    args = parser.parse_args(argv)
    checks: dict[str, SignatureCheck] = {}
    for given in args.secret:
        platform, equals, secret = given.partition("=")
        if not equals:  # the whole value may be the secret: not echoed
            parser.error("--secret: expected PLATFORM=SECRET")
        try:
            checks[platform] = signature_check(platform, secret)
        except ValidationError as error:  # .value is redacted; the reason says why
            parser.error(f"--secret {platform}: {error.path}: {error.reason}")
        except ValueError as error:
            parser.error(f"--secret {platform}: {error}")
    server = Receiver((args.host, args.port), open_sync(args.db), checks)
    host, port = server.server_address[:2]
    print(f"listening on http://{host!s}:{port}/webhook/<platform>", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print(f"stopped; {server.total.summary()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
