"""Webhook signatures by each platform's published rule; wrong or missing ones refused.

Vectors: the two TOP examples published with Taobao's signing guide (also used as
golden tests by public TOP SDKs), RFC 4231's HMAC-SHA256 test case 2 for the base64
body HMACs of Shopify and WooCommerce, and, for every rule, the signature computed here
straight from the documented string (secret + sorted name/value pairs + secret,
app_key + body + app_secret, or HMAC written out from RFC 2104 over the raw body),
independently of the code under test.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from typing import Any

import pytest

from orderkit.model.errors import InvalidSignature, OrderkitError, ValidationError
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

#: Taobao's published example: secret "test", ``taobao.user.seller.get``.
TOP_EXAMPLE = {
    "method": "taobao.user.seller.get", "timestamp": "2013-05-06 13:52:03", "format": "xml",
    "app_key": "test", "v": "2.0", "fields": "nick", "sign_method": "md5", "session": "test",
}
#: Taobao's second published example: secret "helloworld", ``taobao.item.seller.get``.
TOP_EXAMPLE_2 = {
    "method": "taobao.item.seller.get", "format": "json", "app_key": "12345678", "v": "2.0",
    "fields": "num_iid,title,nick,price,num", "num_iid": "11223344", "sign_method": "md5",
    "timestamp": "2016-01-01 12:00:00", "session": "test",
}
BODY = json.dumps({"orderId": "281736112233", "orderState": "WAIT_SELLER_STOCK_OUT"},
                  ensure_ascii=False).encode("utf-8")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _pairs(params: dict[str, str]) -> str:
    return "".join(k + v for k, v in sorted(params.items()) if k != "sign" and v)


def test_top_matches_taobaos_published_examples() -> None:
    assert TopSignature("test").sign(TOP_EXAMPLE) == "72CB4D809B375A54502C09360D879C64"
    assert TopSignature("helloworld").sign(TOP_EXAMPLE_2) == "66987CB115214E59E6EC978214934FB8"
    TopSignature("test").verify(WebhookRequest(
        params={**TOP_EXAMPLE, "sign": "72CB4D809B375A54502C09360D879C64"}))
    # Lower-case hex is the same signature.
    TopSignature("test").verify(WebhookRequest(
        params={**TOP_EXAMPLE, "sign": "72cb4d809b375a54502c09360d879c64"}))


@pytest.mark.parametrize(("method", "digest"), [("hmac", hashlib.md5),
                                                ("hmac-sha256", hashlib.sha256)])
def test_top_hmac_methods_key_the_digest_with_the_secret(method: str, digest: Any) -> None:
    params = {**TOP_EXAMPLE, "sign_method": method}
    text = _pairs(params).encode("utf-8") + BODY
    expected = hmac.new(b"s3cret", text, digest).hexdigest().upper()
    check = TopSignature("s3cret")
    assert check.sign(params, BODY) == expected
    check.verify(WebhookRequest(params={**params, "sign": expected}, body=BODY))


def test_top_md5_covers_the_body_between_the_secrets() -> None:
    expected = hashlib.md5(b"k" + _pairs(TOP_EXAMPLE).encode() + BODY + b"k").hexdigest().upper()
    assert TopSignature("k").sign(TOP_EXAMPLE, BODY) == expected
    with pytest.raises(InvalidSignature) as caught:
        TopSignature("k").verify(WebhookRequest(params={**TOP_EXAMPLE, "sign": expected},
                                                body=BODY.replace(b"281736", b"999999")))
    assert (caught.value.platform, caught.value.field) == ("tmall", "sign")


def test_top_refuses_an_unknown_sign_method() -> None:
    with pytest.raises(InvalidSignature) as caught:
        TopSignature("k").verify(WebhookRequest(params={"sign_method": "sha1", "sign": "AB"}))
    assert caught.value.field == "sign_method"


def test_jd_signs_secret_sorted_pairs_secret_with_the_body_as_its_parameter() -> None:
    params = {"app_key": "JDAPPKEY", "method": "jingdong.pop.order.get",
              "timestamp": "2026-02-16 10:20:31", "v": "2.0"}
    expected = _md5("jdsecret" + _pairs({**params, "360buy_param_json": BODY.decode()})
                    + "jdsecret").upper()
    check = JdSignature("jdsecret")
    check.verify(WebhookRequest(params={**params, "sign": expected}, body=BODY))
    with pytest.raises(InvalidSignature) as caught:  # the body changed on the way
        check.verify(WebhookRequest(params={**params, "sign": expected},
                                    body=BODY.replace(b"WAIT", b"LOCK")))
    assert (caught.value.platform, caught.value.field, caught.value.reason) == (
        "jd", "sign", "does not match")
    # Empty values do not take part; ``sign`` itself never does.
    assert check.sign({**params, "empty": ""}) == check.sign(params) == _md5(
        "jdsecret" + _pairs(params) + "jdsecret").upper()


def test_pdd_signs_client_secret_sorted_pairs_client_secret() -> None:
    params = {"client_id": "pddclient", "type": "pdd.order.information.get",
              "timestamp": "1771208431", "data_type": "JSON", "order_sn": "260216-123"}
    expected = _md5("pddsecret" + _pairs(params) + "pddsecret").upper()
    check = PddSignature("pddsecret")
    assert check.sign(params) == expected
    check.verify(WebhookRequest(params={**params, "sign": expected}))
    # A body the rule does not cover is refused, not trusted unsigned.
    with pytest.raises(InvalidSignature) as caught:
        check.verify(WebhookRequest(params={**params, "sign": expected}, body=BODY))
    assert (caught.value.platform, caught.value.field) == ("pdd", "body")
    covered = PddSignature("pddsecret", body_param="data")
    signed = _md5("pddsecret" + _pairs({**params, "data": BODY.decode()}) + "pddsecret")
    covered.verify(WebhookRequest(params={**params, "sign": signed.upper()}, body=BODY))


def test_douyin_event_sign_is_md5_of_app_key_body_app_secret() -> None:
    check = DouyinSignature("7012345678901234567", "dysecret")
    expected = hashlib.md5(b"7012345678901234567" + BODY + b"dysecret").hexdigest()
    assert check.sign(BODY) == expected
    check.verify(WebhookRequest(headers={"App-Id": "7012345678901234567",
                                         "Event-Sign": expected}, body=BODY))
    with pytest.raises(InvalidSignature) as caught:
        check.verify(WebhookRequest(headers={"event-sign": expected}, body=BODY + b" "))
    assert (caught.value.platform, caught.value.field) == ("douyin", "event-sign")
    # A push whose app-id is missing, blank or names another app is refused, with the
    # documented reasons (the doudian SDK's callback refuses it too).
    for app_id, reason in ((None, "missing"), (" ", "missing"), ("another", "does not match"),
                           ("7012345678901234567 0", "does not match")):
        headers = {"event-sign": expected} if app_id is None else {
            "app-id": app_id, "event-sign": expected}
        with pytest.raises(InvalidSignature) as caught:
            check.verify(WebhookRequest(headers=headers, body=BODY))
        assert (caught.value.platform, caught.value.field, caught.value.reason) == (
            "douyin", "app-id", reason)


@pytest.mark.parametrize("check", [TopSignature("k"), JdSignature("k", body_param=None),
                                   PddSignature("k"), DouyinSignature("a", "k")])
def test_a_missing_signature_is_refused_naming_platform_and_field(check: Any) -> None:
    assert isinstance(check, SignatureCheck)
    with pytest.raises(InvalidSignature) as caught:
        check.verify(WebhookRequest(params={"app_key": "a"}))
    error = caught.value
    assert isinstance(error, OrderkitError)
    assert error.reason == "missing"
    assert error.platform == check.platform
    assert error.field in ("sign", "event-sign")
    assert error.platform in str(error) and error.field in str(error)


@pytest.mark.parametrize("check", [TopSignature("k"), JdSignature("k", body_param=None),
                                   PddSignature("k")])
def test_a_signature_made_with_another_secret_is_refused(check: Any) -> None:
    params = {"app_key": "a", "timestamp": "2026-02-16 10:20:31"}
    forged = type(check)("other").sign(params) if not isinstance(check, JdSignature) \
        else JdSignature("other", body_param=None).sign(params)
    with pytest.raises(InvalidSignature):
        check.verify(WebhookRequest(params={**params, "sign": forged}))


def test_bad_arguments_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        JdSignature("")
    with pytest.raises(ValidationError):
        JdSignature("k").verify({"sign": "x"})  # type: ignore[arg-type]
    with pytest.raises(InvalidSignature) as caught:
        JdSignature("k").verify(WebhookRequest(params={"sign": "x"}, body=b"\xff"))
    assert caught.value.field == "body"


def test_the_secret_is_not_in_the_repr() -> None:
    assert "s3cret" not in repr(JdSignature("s3cret"))
    assert "s3cret" not in repr(DouyinSignature("app", "s3cret"))


# --- the own-shop platforms: base64 HMAC-SHA256 of the raw body ------------------------

#: RFC 4231, test case 2 (HMAC-SHA256 of "what do ya want for nothing?" keyed "Jefe"),
#: the published HMAC-SHA256 vector; Shopify and WooCommerce send its base64.
RFC4231_KEY = "Jefe"
RFC4231_DATA = b"what do ya want for nothing?"
RFC4231_HEX = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
SHOP_BODY = json.dumps({"id": 820982911946154508, "email": "jon@example.com",
                        "financial_status": "paid", "total_price": "199.00"}).encode()


def _hmac_sha256_by_rfc2104(key: bytes, data: bytes) -> bytes:
    """HMAC written out from RFC 2104 (ipad/opad around SHA-256), independent of the
    ``hmac`` module the checkers use."""
    block = 64
    key = hashlib.sha256(key).digest() if len(key) > block else key
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + data).digest()
    return hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).digest()


def _b64(raw: bytes) -> str:
    import base64
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize("make", [ShopifySignature, WooCommerceSignature])
def test_own_shop_signatures_match_the_rfc4231_vector_in_base64(make: Any) -> None:
    expected = _b64(bytes.fromhex(RFC4231_HEX))
    assert expected == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    check = make(RFC4231_KEY)
    assert check.sign(RFC4231_DATA) == expected
    check.verify(WebhookRequest(headers={check.header: expected}, body=RFC4231_DATA))


def test_shopify_hmac_header_is_base64_hmac_sha256_of_the_raw_body() -> None:
    check = ShopifySignature("shpss_client_secret")
    expected = _b64(_hmac_sha256_by_rfc2104(b"shpss_client_secret", SHOP_BODY))
    assert check.sign(SHOP_BODY) == expected
    # Header names are matched in any case, as HTTP does.
    check.verify(WebhookRequest(headers={"x-shopify-hmac-sha256": expected,
                                         "X-Shopify-Topic": "orders/paid"}, body=SHOP_BODY))
    with pytest.raises(InvalidSignature) as caught:  # one byte of the body changed
        check.verify(WebhookRequest(headers={"X-Shopify-Hmac-Sha256": expected},
                                    body=SHOP_BODY.replace(b"199.00", b"1.00")))
    assert (caught.value.platform, caught.value.field, caught.value.reason) == (
        "shopify", "X-Shopify-Hmac-Sha256", "does not match")
    # The same body re-serialized (what a parsed-then-dumped JSON gives) is refused:
    # the signature covers the raw bytes.
    reserialized = json.dumps(json.loads(SHOP_BODY), separators=(",", ":")).encode()
    with pytest.raises(InvalidSignature):
        check.verify(WebhookRequest(headers={"X-Shopify-Hmac-Sha256": expected},
                                    body=reserialized))


def test_woocommerce_signature_header_is_base64_hmac_sha256_of_the_raw_body() -> None:
    check = WooCommerceSignature("wc webhook secret")
    expected = _b64(_hmac_sha256_by_rfc2104(b"wc webhook secret", SHOP_BODY))
    assert check.sign(SHOP_BODY) == expected
    check.verify(WebhookRequest(headers={"X-WC-Webhook-Signature": expected,
                                         "X-WC-Webhook-Topic": "order.updated"},
                                body=SHOP_BODY))
    with pytest.raises(InvalidSignature) as caught:
        check.verify(WebhookRequest(headers={"X-WC-Webhook-Signature": expected},
                                    body=SHOP_BODY + b"\n"))
    assert (caught.value.platform, caught.value.field) == ("woocommerce",
                                                           "X-WC-Webhook-Signature")


@pytest.mark.parametrize("make", [ShopifySignature, WooCommerceSignature])
def test_own_shop_base64_is_compared_exactly(make: Any) -> None:
    """Base64 is case-sensitive: the upper-cased signature (equal for hex rules) is
    another signature here; a missing or blank header is ``missing``."""
    check = make("k")
    good = check.sign(SHOP_BODY)
    check.verify(WebhookRequest(headers={check.header: f" {good} "}, body=SHOP_BODY))
    assert good.upper() != good
    with pytest.raises(InvalidSignature) as caught:
        check.verify(WebhookRequest(headers={check.header: good.upper()}, body=SHOP_BODY))
    assert caught.value.reason == "does not match"
    for headers in ({}, {check.header: " "}):
        with pytest.raises(InvalidSignature) as caught:
            check.verify(WebhookRequest(headers=headers, body=SHOP_BODY))
        assert caught.value.reason == "missing"
        assert caught.value.platform == check.platform
    with pytest.raises(InvalidSignature):  # made with another secret
        check.verify(WebhookRequest(headers={check.header: make("other").sign(SHOP_BODY)},
                                    body=SHOP_BODY))
    assert "s3cret" not in repr(make("s3cret"))
    with pytest.raises(ValidationError):
        make("")
    assert isinstance(check, SignatureCheck)


# --- what a checker refuses at construction, and the request it is given ---------------

_SECRET_FIELDS = [
    (lambda s: TopSignature(s), "secret"),
    (lambda s: JdSignature(s), "secret"),
    (lambda s: PddSignature(s), "client_secret"),
    (lambda s: DouyinSignature("7012345678901234567", s), "app_secret"),
    (lambda s: ShopifySignature(s), "client_secret"),
    (lambda s: WooCommerceSignature(s), "secret"),
]


@pytest.mark.parametrize(("make", "field"), _SECRET_FIELDS)
@pytest.mark.parametrize(("secret", "reason"), [
    ("shpss_9f8e7d6c5b4a\x00", "contains NUL"),
    ("k" * 4097, "longer than 4096 characters"),
    ("s3cr3t-\udc80", "not encodable as UTF-8"),
])
def test_a_refused_secret_is_named_but_never_shown(
    make: Any, field: str, secret: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        make(secret)
    error = caught.value
    assert error.path == field
    assert reason in error.reason
    assert error.value == f"<secret, {len(secret)} characters>"
    for text in (str(error), repr(error.value), repr(error.args)):
        assert secret[:6] not in text
    # Nothing reachable from the error holds the secret either (no chained original).
    assert error.__context__ is None and error.__cause__ is None


def test_a_secret_of_another_type_is_refused_without_its_value() -> None:
    with pytest.raises(ValidationError) as caught:
        JdSignature(b"s3cr3t-bytes")  # type: ignore[arg-type]
    assert (caught.value.path, caught.value.reason) == ("secret", "expected a string")
    assert caught.value.value == "<secret, bytes>"
    assert "s3cr3t" not in str(caught.value)
    # The app key is no secret (Douyin sends it in the app-id header): it is shown.
    with pytest.raises(ValidationError) as caught:
        DouyinSignature("", "dysecret")
    assert (caught.value.path, caught.value.value) == ("app_key", "")


def test_a_body_given_as_text_is_refused_naming_request_body() -> None:
    """Frameworks hand the body as ``str`` (decoded) as often as bytes; the signature
    covers the bytes as received, so a decoded body is refused, not re-encoded."""
    for body in (SHOP_BODY.decode(), None, 12):
        with pytest.raises(ValidationError) as caught:
            WebhookRequest(body=body)  # type: ignore[arg-type]
        assert caught.value.path == "request.body"
        assert "bytes" in caught.value.reason
    assert "as received" in ValidationError.__str__(caught.value)
    # Other bytes-like bodies are the same bytes.
    check = ShopifySignature("k")
    for body in (bytearray(SHOP_BODY), memoryview(SHOP_BODY)):
        request = WebhookRequest(headers={check.header: check.sign(SHOP_BODY)}, body=body)
        assert request.body == SHOP_BODY and type(request.body) is bytes
        check.verify(request)


def test_raw_asgi_headers_are_read_as_latin_1_as_http_servers_do() -> None:
    check = ShopifySignature("k")
    signature = check.sign(SHOP_BODY)
    # dict(scope["headers"]), and scope["headers"] itself: pairs of bytes.
    check.verify(WebhookRequest(headers={b"x-shopify-hmac-sha256": signature.encode()},
                                body=SHOP_BODY))
    raw = [(b"content-type", b"application/json"),
           (b"x-shopify-hmac-sha256", signature.encode())]
    request = WebhookRequest(headers=raw, body=SHOP_BODY)  # type: ignore[arg-type]
    assert request.header("Content-Type") == "application/json"
    check.verify(request)
    assert WebhookRequest(headers={"X-Name": "caf\xe9".encode("latin-1")}).header(
        "x-name") == "caf\xe9"
    # A header given twice is one field whose values are joined, as HTTP says
    # (RFC 9110, 5.3): two signatures are no signature.
    twice = WebhookRequest(headers=[("X-Shopify-Hmac-Sha256", signature),  # type: ignore[arg-type]
                                    ("x-shopify-hmac-sha256", "forged")], body=SHOP_BODY)
    assert twice.header(check.header) == f"{signature}, forged"
    with pytest.raises(InvalidSignature):
        check.verify(twice)


@pytest.mark.parametrize(("headers", "path"), [
    ({"X-Shopify-Hmac-Sha256": 12}, "request.headers['X-Shopify-Hmac-Sha256']"),
    ({"X-Shopify-Hmac-Sha256": ["abc"]}, "request.headers['X-Shopify-Hmac-Sha256']"),
    ({"event-sign": "ab\udc80"}, "request.headers['event-sign']"),
    ({12: "x"}, "request.headers"),
    ("X-Shopify-Hmac-Sha256: abc", "request.headers"),
    ([("only-a-name",)], "request.headers[0]"),
])
def test_a_header_that_is_no_text_is_refused_naming_it(headers: Any, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookRequest(headers=headers)
    assert caught.value.path == path


def test_query_values_from_parse_qs_are_taken_when_single_and_refused_when_several() -> None:
    params = {**TOP_EXAMPLE, "sign": "72CB4D809B375A54502C09360D879C64"}
    # urllib.parse.parse_qs gives each value as a list.
    single = {name: [value] for name, value in params.items()}
    request = WebhookRequest(params=single)  # type: ignore[arg-type]
    assert request.params == params
    TopSignature("test").verify(request)
    # parse_qsl's pairs, given as they are, are the same parameters.
    TopSignature("test").verify(WebhookRequest(params=list(params.items())))  # type: ignore[arg-type]
    for several in ({**single, "v": ["2.0", "3.0"]}, [*params.items(), ("v", "3.0")]):
        with pytest.raises(ValidationError) as caught:
            WebhookRequest(params=several)  # type: ignore[arg-type]
        assert caught.value.path == "request.params['v']"
        assert "parse_qsl" in caught.value.reason


@pytest.mark.parametrize(("params", "path"), [
    ({"sign": b"ABC"}, "request.params['sign']"),
    ({"sign": None}, "request.params['sign']"),
    ({"sign": []}, "request.params['sign']"),
    ({"nick": "\udc80"}, "request.params['nick']"),
    ({b"sign": "ABC"}, "request.params"),
    ("sign=ABC", "request.params"),
])
def test_a_parameter_that_is_no_text_is_refused_naming_it(params: Any, path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookRequest(params=params)
    assert caught.value.path == path


@pytest.mark.parametrize("check", [TopSignature("k"), JdSignature("k"), PddSignature("k"),
                                   DouyinSignature("a", "k"), ShopifySignature("k"),
                                   WooCommerceSignature("k")])
def test_every_checker_answers_a_request_it_accepted_with_orderkit_errors_only(
    check: Any,
) -> None:
    shapes: list[dict[str, Any]] = [
        {"params": {"sign": ["AB"], "sign_method": ["hmac"]}, "body": bytearray(b"{}")},
        {"headers": {b"event-sign": b"\xff\xfe", b"app-id": b"a"}, "body": b"\xff"},
        {"headers": {"X-Shopify-Hmac-Sha256": b"\x00", "X-WC-Webhook-Signature": b" "}},
        {"params": {"sign": "\u00e9" * 5000, "": "x"}, "body": memoryview(b"x" * 10)},
    ]
    for shape in shapes:
        with contextlib.suppress(OrderkitError):
            check.verify(WebhookRequest(**shape))


@pytest.mark.slow
def test_every_checker_is_a_signature_check_to_mypy(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkers are frozen: the protocol's ``platform`` must be read-only for a
    host's ``check: SignatureCheck = JdSignature(...)`` to type-check."""
    from pathlib import Path

    from mypy import api

    import orderkit

    # Type-check the orderkit these tests import, not another installed copy.
    monkeypatch.setenv("MYPYPATH", str(Path(orderkit.__file__).parents[1]))

    program = tmp_path / "host.py"
    program.write_text(
        "from orderkit.sync.signatures import (DouyinSignature, JdSignature, PddSignature,\n"
        "    ShopifySignature, SignatureCheck, TopSignature, WooCommerceSignature)\n"
        "checks: list[SignatureCheck] = [TopSignature('k'), JdSignature('k'),\n"
        "    PddSignature('k'), DouyinSignature('a', 'k'), ShopifySignature('k'),\n"
        "    WooCommerceSignature('k')]\n", "utf-8")
    out, err, status = api.run(["--strict", "--cache-dir", str(tmp_path / "cache"),
                                str(program)])
    assert status == 0, out + err
