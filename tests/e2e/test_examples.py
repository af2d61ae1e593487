"""The examples in ``examples/`` run end to end as a host would run them (each in its
own process, on a SQLite file), so they cannot rot."""

from __future__ import annotations

import copy
import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteSyncStore
from orderkit.model.orders import OrderStatus
from orderkit.sync.signatures import JdSignature, ShopifySignature, WooCommerceSignature

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples"
JD = ROOT / "tests" / "fixtures" / "mapping" / "jd"
#: Six JD orders, each with the platform's modified time.
FEED = ("cancelled_after_payment", "cancelled_unpaid", "cash_on_delivery_not_yet_paid",
        "finished", "shipped_with_waybill", "wait_seller_stock_out")
BEIJING = timedelta(hours=8)


def _jd(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((JD / f"{name}.json").read_text("utf-8"))
    return payload


def _malformed() -> dict[str, Any]:
    """A JD order the map refuses (a status it does not know), with a modified time."""
    return dict(_jd("wait_seller_stock_out"), orderId="281739999999",
                orderState="WAIT_FOR_MARS")


def _write(path: Path, payloads: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in payloads),
                    "utf-8")
    return path


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True, text=True, encoding="utf-8", check=False, timeout=120,
    )


def test_backfill_job_stores_a_window_once_keeps_the_dead_letter_and_leaves_the_cursor(
    tmp_path: Path,
) -> None:
    feed = _write(tmp_path / "jd.jsonl", [_jd(name) for name in FEED] + [_malformed()])
    db = tmp_path / "shop.db"
    args = ("--platform", "jd", "--feed", str(feed), "--db", str(db),
            "--since", "2026-01-31T00:00:00+08:00", "--until", "2026-02-17T00:00:00+08:00")
    done = _run("backfill_job.py", *args)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "backfill jd: new 6, updated 0, unchanged 0, stale 0, dead letters 1"
    assert lines[1] == "replayed dead letters: new 0, updated 0, unchanged 0, stale 0, " \
        "dead letters 1"
    assert re.fullmatch(r"dead letter jd:[0-9a-f]{64}: MappingError: jd: .*WAIT_FOR_MARS.*",
                        lines[2])
    again = _run("backfill_job.py", *args)
    assert again.stdout.splitlines()[0] == \
        "backfill jd: new 0, updated 0, unchanged 6, stale 0, dead letters 1"
    repository = SQLiteOrderRepository(db)
    for name in FEED:
        assert repository.find_by_channel("jd", str(_jd(name)["orderId"])) is not None
    assert repository.find_by_channel("jd", "281739999999") is None
    assert SQLiteSyncStore(db).cursor("jd", "") is None


def test_backfill_job_reads_a_time_without_an_offset_as_utc_like_orderkit_backfill(
    tmp_path: Path,
) -> None:
    feed = _write(tmp_path / "jd.jsonl", [_jd(name) for name in FEED])
    # 2026-02-16 03:00 UTC takes the order modified at 10:20 Beijing time (02:20 UTC);
    # read as Beijing time it would not.
    naive = _run("backfill_job.py", "--platform", "jd", "--feed", str(feed),
                 "--db", str(tmp_path / "naive.db"),
                 "--since", "2026-02-15", "--until", "2026-02-16 03:00")
    assert naive.returncode == 0, naive.stderr
    utc = _run("backfill_job.py", "--platform", "jd", "--feed", str(feed),
               "--db", str(tmp_path / "utc.db"),
               "--since", "2026-02-15T00:00:00Z", "--until", "2026-02-16T03:00:00+00:00")
    assert naive.stdout == utc.stdout == \
        "backfill jd: new 3, updated 0, unchanged 0, stale 0, dead letters 0\n"
    # A time it cannot read is a usage error naming the argument, not a traceback.
    bad = _run("backfill_job.py", "--platform", "jd", "--feed", str(feed),
               "--db", str(tmp_path / "bad.db"), "--since", "yesterday",
               "--until", "2026-02-16")
    assert bad.returncode == 2
    assert "argument --since: 'yesterday': expected ISO-8601" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_polling_job_reads_what_changed_since_its_cursor(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    payloads = []
    for minutes, name in enumerate(("cancelled_unpaid", "wait_seller_stock_out",
                                    "shipped_with_waybill"), start=1):
        payload = _jd(name)
        payload["modified"] = (now - timedelta(hours=2, minutes=minutes) + BEIJING) \
            .strftime("%Y-%m-%d %H:%M:%S")
        payloads.append(payload)
    feed = _write(tmp_path / "jd.jsonl", payloads)
    db = tmp_path / "shop.db"
    args = ("--platform", "jd", "--feed", str(feed), "--db", str(db))
    first = _run("polling_job.py", *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == \
        "poll jd: new 3, updated 0, unchanged 0, stale 0, dead letters 0"
    assert first.stdout.splitlines()[1].startswith("cursor: ")
    cursor = SQLiteSyncStore(db).cursor("jd", "")
    assert cursor is not None
    assert cursor.modified_at > now - timedelta(minutes=10)
    # The platform ships the waiting order: its new version is appended to the feed.
    shipped = copy.deepcopy(payloads[1])
    shipped.update(orderState="WAIT_GOODS_RECEIVE_CONFIRM", waybill="JDVA000000000001",
                   modified=(datetime.now(UTC) + BEIJING).strftime("%Y-%m-%d %H:%M:%S"))
    _write(feed, [*payloads, shipped])
    second = _run("polling_job.py", *args)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[0].startswith("poll jd: new 0, updated 1, ")
    order = SQLiteOrderRepository(db).find_by_channel("jd", str(shipped["orderId"]))
    assert order is not None
    assert order.status == OrderStatus.SHIPPED


def _post(
    url: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


JD_SECRET = "jd-test-secret"


def _signed(base: str, body: bytes, *, secret: str = JD_SECRET) -> str:
    """The JD webhook URL for ``body``, with JD's signed parameters in its query."""
    params = {"app_key": "JDAPPKEY", "method": "jingdong.pop.order.get",
              "timestamp": "2026-02-16 10:20:31", "v": "2.0"}
    sign = JdSignature(secret).sign({**params, "360buy_param_json": body.decode("utf-8")})
    return f"{base}/webhook/jd?" + urllib.parse.urlencode({**params, "sign": sign})


@contextmanager
def _receiver(db: Path, *secrets: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Run ``examples/webhook_receiver.py`` on ``db`` and a free port, with a ``--secret``
    for each ``platform=secret``; yield its base URL and a dict that receives its stdout
    as ``"out"`` once the block ends and SIGINT has stopped it with exit status 0."""
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--db", str(db), "--port", "0",
         *(arg for secret in secrets for arg in ("--secret", secret))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )
    result: dict[str, str] = {}
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        found = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)/webhook/<platform>\n",
                             first)
        assert found is not None, first
        yield found.group(1), result
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0, err
    result["out"] = out


def test_webhook_receiver_applies_posted_payloads_and_stops_on_sigint(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with _receiver(db, f"jd={JD_SECRET}") as (base, result):
        order = json.dumps(_jd("shipped_with_waybill")).encode()
        # Refused before anything is read: a tampered body, a missing signature, a
        # signature made with another secret, a platform without a secret.
        tampered = order.replace(b"281736112233", b"281736999999")
        status, answer = _post(_signed(base, order), tampered)
        assert (status, answer["field"]) == (401, "sign")
        assert "jd signature 'sign': does not match" in answer["error"]
        status, answer = _post(base + "/webhook/jd", order)
        assert (status, answer["field"]) == (401, "sign")
        assert "missing" in answer["error"]
        assert _post(_signed(base, order, secret="guessed"), order)[0] == 401
        assert _post(base + "/webhook/pdd", order)[0] == 401
        assert _post(base + "/webhook/jd", b"{not json")[0] == 401

        assert _post(_signed(base, order), order) == (200, {
            "new": 1, "updated": 0, "unchanged": 0, "stale": 0, "dead_lettered": 0,
            "waiting_for_stock": 0})
        assert _post(_signed(base, order), order)[1]["unchanged"] == 1
        malformed = json.dumps(_malformed()).encode()
        assert _post(_signed(base, malformed), malformed) == (
            202, {"new": 0, "updated": 0, "unchanged": 0, "stale": 0, "dead_lettered": 1,
                  "waiting_for_stock": 0})
        status, answer = _post(_signed(base, b"{not json"), b"{not json")
        assert status == 400
        assert "not JSON" in answer["error"]
        for constant in (b"NaN", b"Infinity"):  # Python's json reads them; JSON has none
            odd = order.replace(b'"orderPayment": "', b'"orderPayment": ' + constant
                                + b', "was": "')
            status, answer = _post(_signed(base, odd), odd)
            assert status == 400
            assert constant.decode() + " is not a JSON number" in answer["error"]
        assert _post(base + "/webhook/ebay", order)[0] == 404
    out = result["out"]
    assert out.splitlines()[-1] == \
        "stopped; new 1, updated 0, unchanged 1, stale 0, dead letters 1"
    assert out.count("jd: refused: jd signature") == 4
    repository = SQLiteOrderRepository(db)
    stored = repository.find_by_channel("jd", "281736112233")
    assert stored is not None
    assert stored.status == OrderStatus.SHIPPED
    assert repository.find_by_channel("jd", "281736999999") is None  # the tampered one
    (letter,) = SQLiteSyncStore(db).dead_letters("jd")
    assert "WAIT_FOR_MARS" in letter.error


@pytest.mark.parametrize(("given", "message"), [
    ("douyin=APPKEYONLY", "--secret douyin: expected APP_KEY:APP_SECRET"),
    ("douyin=:s3cr3t-value", "--secret douyin: app_key: must not be empty"),
    ("jd=", "--secret jd: secret: must not be empty"),
    ("jd=" + "s3cr3t-value" * 400, "--secret jd: secret: longer than 4096 characters"),
    ("jds3cr3t-value", "--secret: expected PLATFORM=SECRET"),
    ("ebay=s3cr3t-value", "--secret ebay: no signature rule (one of: douyin, jd, pdd, "
                          "shopify, taobao, tmall, woocommerce)"),
])
def test_webhook_receiver_refuses_a_bad_secret_with_one_usage_line(
    tmp_path: Path, given: str, message: str
) -> None:
    db = tmp_path / "shop.db"
    done = _run("webhook_receiver.py", "--db", str(db), "--port", "0", "--secret", given)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1].endswith(f"error: {message}")
    assert "s3cr3t" not in done.stderr + done.stdout  # the secret is never echoed
    assert not db.exists()


def test_webhook_receiver_checks_shopify_and_woocommerce_body_hmacs(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    fixtures = ROOT / "tests" / "fixtures" / "mapping"
    shop = (fixtures / "shopify" / "paid_unfulfilled_new_york.json").read_bytes()
    woo = (fixtures / "woocommerce" / "processing_from_docs.json").read_bytes()
    shopify_header = "X-Shopify-Hmac-Sha256"
    woo_header = "X-WC-Webhook-Signature"
    with _receiver(db, "shopify=shpss-test", "woocommerce=wc-test") as (base, result):
        good = ShopifySignature("shpss-test").sign(shop)
        # Refused: no header, another secret, a changed body, the other platform's rule.
        assert _post(base + "/webhook/shopify", shop)[0] == 401
        assert _post(base + "/webhook/shopify", shop,
                     {shopify_header: ShopifySignature("guess").sign(shop)})[0] == 401
        status, answer = _post(base + "/webhook/shopify", shop.replace(b"1", b"2", 1),
                               {shopify_header: good})
        assert (status, answer["field"]) == (401, shopify_header)
        assert _post(base + "/webhook/woocommerce", woo,
                     {woo_header: ShopifySignature("wc-test").sign(woo[:-1])})[0] == 401
        assert _post(base + "/webhook/shopify", shop, {shopify_header: good})[1]["new"] == 1
        assert _post(base + "/webhook/woocommerce", woo,
                     {woo_header: WooCommerceSignature("wc-test").sign(woo)})[1]["new"] == 1
    out = result["out"]
    assert out.splitlines()[-1] == \
        "stopped; new 2, updated 0, unchanged 0, stale 0, dead letters 0"
    assert out.count("refused") == 4
    repository = SQLiteOrderRepository(db)
    assert repository.find_by_channel("shopify", str(json.loads(shop)["id"])) is not None
    assert repository.find_by_channel("woocommerce", str(json.loads(woo)["id"])) is not None


def test_tmall_to_erp_stores_orderkits_own_sample_once_and_prints_it(tmp_path: Path) -> None:
    db = tmp_path / "erp.db"
    done = _run("tmall_to_erp.py", "--db", str(db))
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert (row["channel"], row["channel_order_id"]) == ("tmall", "3698512204871532841")
    assert row["totals"]["payable"] == "328.50"
    assert "stored 1 new, 0 already stored" in done.stderr
    again = _run("tmall_to_erp.py", "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert "stored 0 new, 1 already stored" in again.stderr
    assert [json.loads(line) for line in again.stdout.splitlines()] == [row]
    stored = SQLiteOrderRepository(db).find_by_channel("tmall", "3698512204871532841")
    assert stored is not None
    assert str(stored.totals.payable.amount) == "328.50"
