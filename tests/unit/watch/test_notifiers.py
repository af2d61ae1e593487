"""The notifiers that ship with orderkit, and ``orderkit watch`` on a real database."""

from __future__ import annotations

import io
import json
import socket
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit import OrderStatus
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
from orderkit.errors import StoreError, ValidationError
from orderkit.model.alerts import Alert
from orderkit.sync import DeadLetter
from orderkit.testing.samples import sample_order
from orderkit.watch.notifiers import StdoutNotifier, WebhookNotifier

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ALERT = Alert("watch.pending_payment_stale", "warning", "pending_payment_stale:A",
              "orders pending payment for more than 15 minutes: 1 order(s): A", T0,
              {"state": "raised", "route_to": "customer_service", "orders": "A"})


def test_stdout_notifier_writes_one_line_per_alert() -> None:
    out = io.StringIO()
    StdoutNotifier(out).notify(ALERT)
    assert out.getvalue() == (
        "2026-03-02T01:00:00+00:00 WARNING raised -> customer_service"
        " pending_payment_stale:A: orders pending payment for more than 15 minutes:"
        " 1 order(s): A\n"
    )


def test_webhook_notifier_posts_the_alert_as_json_and_reports_failures() -> None:
    received: list[Any] = []
    status = {"code": 200}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append((self.headers["Content-Type"],
                             json.loads(self.rfile.read(length).decode("utf-8"))))
            self.send_response(status["code"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/alerts"
        WebhookNotifier(url).notify(ALERT)
        ((content_type, body),) = received
        assert content_type == "application/json; charset=utf-8"
        assert body["subject"] == "pending_payment_stale:A"
        assert body["details"]["route_to"] == "customer_service"
        status["code"] = 503
        with pytest.raises(StoreError, match="503"):
            WebhookNotifier(url).notify(ALERT)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(StoreError):
        WebhookNotifier(f"http://127.0.0.1:{server.server_port}/gone", timeout=2).notify(ALERT)
    with pytest.raises(ValidationError):
        WebhookNotifier("file:///etc/passwd")



@pytest.mark.parametrize("url", [
    "", "notaurl", "file:///etc/passwd", "http://", "http:///alerts", "http://:80/x",
    "http://[::1", "https:// hooks.example/x", "https://hooks.example/x y",
    "https://hooks.example/\talerts", "http://hooks.example:99999/", "http://hooks.example:x/",
    "https://hooks.example/é",
])
def test_a_webhook_url_no_request_could_be_sent_to_is_refused_at_once(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookNotifier(url)
    assert caught.value.path == "url" and caught.value.value == url


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/alerts", "https://[::1]:443/x?key=a%20b", "HTTPS://hooks.example",
])
def test_a_webhook_url_with_a_scheme_and_a_host_is_kept_as_given(url: str) -> None:
    assert WebhookNotifier(url).url == url

def test_orderkit_watch_alerts_once_across_runs(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    stale = attrs.evolve(sample_order("ORD-1"), status=OrderStatus.PENDING_PAYMENT,
                         status_since=datetime.now(UTC) - timedelta(hours=1), shipments=())
    repository.save(stale, None)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orderkit", "watch", "--db", str(db),
                               "--once"], capture_output=True, text=True, timeout=120,
                              check=False)

    first = run()
    assert first.returncode == 0, first.stderr
    assert "raised -> customer_service pending_payment_stale:ORD-1" in first.stdout
    assert first.stdout.splitlines()[-1].startswith("watch: 1 raised, 0 repeated")
    second = run()  # a restart: the episode is stored, nothing is sent again
    assert second.stdout.splitlines() == ["watch: 0 raised, 0 repeated, 0 resolved, 0 pending,"
                                          " 0 inhibited, 0 failed"]
    # A platform order sync could not store is watched from the same file.
    SQLiteSyncStore(db).add_dead_letter(DeadLetter("jd:abc", "jd", '{"orderId":"1"}',
                                                   "MappingError: x", datetime.now(UTC)))
    third = run()
    assert "raised -> tech sync_dead_letters:sync_dead_letters" in third.stdout, third.stdout
    missing = subprocess.run([sys.executable, "-m", "orderkit", "watch", "--db",
                              str(tmp_path / "none.db")], capture_output=True, text=True,
                             timeout=120, check=False)
    assert missing.returncode == 3 and "Traceback" not in missing.stderr


def test_the_demo_watch_chapter_alerts_once_resolves_and_recovers_a_channel(
    tmp_path: Path,
) -> None:
    from orderkit.demo import run_demo

    out = io.StringIO()
    run_demo(out, tmp_path / "demo.db")
    chapter = out.getvalue()[out.getvalue().index("Watch: no grey state"):]
    assert "90 minutes of cycles every few minutes: 1 alert(s): no first carrier scan" in chapter
    assert "no_first_scan:YTO resolved" in chapter
    assert "paid_not_shipped:ORD-6001 raised for the paid order nobody shipped, once" in chapter
    assert "(0 more next cycle)" in chapter
    assert ("WeChat Pay: 3 callbacks missing in a row: payment_channel_degraded:wechat_pay"
            " raised (critical, to tech: switch to fallback channel alipay); checkout now"
            " offers alipay; active queries: ORD-6101 paid, ORD-6102 paid, ORD-6103 paid."
            in chapter)
    assert ("A callback arrives again: payment channel wechat_pay recovered: the callback for"
            " ORD-6104 arrived; checkout offers wechat_pay again. Resolved alerts kept:"
            " payment_channel_degraded:wechat_pay, no_first_scan:YTO." in chapter)


def test_orderkit_watch_refuses_a_file_that_is_not_an_order_database(tmp_path: Path) -> None:
    foreign = tmp_path / "other-app.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    before = foreign.read_bytes()
    done = subprocess.run([sys.executable, "-m", "orderkit", "watch", "--db", str(foreign)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3, done.stdout
    assert "not an orderkit order database" in done.stderr
    assert foreign.read_bytes() == before  # the host's file is left exactly as it was


def test_orderkit_watch_creates_no_sync_tables_and_says_what_it_could_not_send(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shop.db"
    repository = SQLiteOrderRepository(db)
    repository.save(attrs.evolve(sample_order("ORD-1"), status=OrderStatus.PENDING_PAYMENT,
                                 status_since=datetime.now(UTC) - timedelta(hours=1),
                                 shipments=()), None)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run([sys.executable, "-m", "orderkit", "watch", "--db", str(db),
                           "--once", "--webhook", f"http://127.0.0.1:{port}/alerts"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 5, done.stderr
    assert "could not send raised pending_payment_stale:ORD-1" in done.stderr
    assert repository.database.schema_version("sync") == 0
