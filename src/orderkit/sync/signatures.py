"""Webhook signatures: is a pushed message really from the platform, unchanged?

A webhook receiver checks the platform's signature *before* anything of the message is
read into :meth:`~orderkit.sync.Sync.receive`. One checker per platform, each following
the platform's published signing rule (the sources are named in ``docs/sync.md``):

* :class:`TopSignature` (Taobao/Tmall open platform, TOP): the request parameters but
  ``sign``, sorted by name, joined as ``name + value`` (empty values left out), then the
  raw body when the message carries one; ``sign_method`` ``md5`` (the default) digests
  ``secret + text + secret`` with MD5, ``hmac`` keys HMAC-MD5 and ``hmac-sha256``
  keys HMAC-SHA256 with the secret; upper-case hex.
* :class:`JdSignature` (JD open platform): MD5 of ``secret + sorted name/value pairs +
  secret``, upper-case hex, in the ``sign`` parameter.
* :class:`PddSignature` (Pinduoduo open platform): MD5 of ``client_secret + sorted
  name/value pairs + client_secret``, upper-case hex, in the ``sign`` parameter.

JD's and Pinduoduo's rules sign parameters only: a raw body is signed as the value of
the parameter it stands for (``body_param``), and a body no parameter stands for is
refused rather than trusted unsigned.
* :class:`DouyinSignature` (Douyin shop message push): the ``event-sign`` header is the
  MD5 hex of ``app_key + body + app_secret`` over the raw body as received, and the
  ``app-id`` header must name the app (``app_key``).
* :class:`ShopifySignature` (Shopify webhooks): the ``X-Shopify-Hmac-Sha256`` header
  is the base64 HMAC-SHA256 of the raw body, keyed with the app's client secret.
* :class:`WooCommerceSignature` (WooCommerce webhooks): the ``X-WC-Webhook-Signature``
  header is the base64 HMAC-SHA256 of the raw body, keyed with the webhook's secret.

Each checker's :meth:`verify` raises :class:`~orderkit.model.errors.InvalidSignature`
naming the platform and the field when the signature is missing or does not match;
:meth:`sign` computes the signature (for tests and for a host that forwards messages).
Signatures are compared with :func:`hmac.compare_digest`, in constant time. Header names
are matched without regard to case, as HTTP does. A secret a checker refuses when it is
built is named in the :class:`~orderkit.model.errors.ValidationError` but never shown:
its ``.value`` is redacted (``'<secret, 5000 characters>'``), as ``repr`` leaves it out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Final, Protocol, runtime_checkable

import attrs

from orderkit.model import _checks as check
from orderkit.model.errors import InvalidSignature, ValidationError

__all__ = [
    "DouyinSignature",
    "JdSignature",
    "PddSignature",
    "ShopifySignature",
    "SignatureCheck",
    "TopSignature",
    "WebhookRequest",
    "WooCommerceSignature",
]

#: The ``sign_method`` values TOP documents.
TOP_METHODS: Final = ("md5", "hmac", "hmac-sha256")


def _pairs(path: str, value: object) -> list[tuple[object, object]]:
    """The ``(name, value)`` pairs of a mapping (or of anything with ``items()``, such
    as a framework's header object) or of an iterable of pairs (ASGI's raw
    ``scope["headers"]``, ``urllib.parse.parse_qsl``'s list)."""
    items = getattr(value, "items", None)
    source: Iterable[object]
    if callable(items):
        source = items()
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        source = value
    else:
        raise ValidationError(path, value, "expected a mapping of name to value, or (name, "
                                           "value) pairs")
    pairs: list[tuple[object, object]] = []
    for index, pair in enumerate(source):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValidationError(f"{path}[{index}]", pair, "expected a (name, value) pair")
        pairs.append((pair[0], pair[1]))
    return pairs


def _request_params(value: object) -> dict[str, str]:
    """Converter: the query and form parameters, one string each. A one-element list
    (what ``urllib.parse.parse_qs`` gives) is its value; several values for one name
    are refused, since which of them was signed cannot be told."""
    params: dict[str, str] = {}
    for name, given in _pairs("request.params", value):
        if not isinstance(name, str):
            raise ValidationError("request.params", name, "expected parameter names as str")
        path = f"request.params[{name!r}]"
        several = "given more than once: pass parse_qsl's pairs or each single value"
        if isinstance(given, list | tuple):
            if len(given) != 1:
                raise ValidationError(path, given, f"{several} (a list from parse_qs holds "
                                                   f"{len(given)} values)")
            (given,) = given
        if not isinstance(given, str):
            raise ValidationError(path, given, "expected a str (decode the query as UTF-8)")
        if name in params:
            raise ValidationError(path, given, several)
        params[name] = check.encodable(path, given)  # hashed as UTF-8
    return params


def _header_text(path: str, value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")  # HTTP field bytes, read as ASGI servers do
    if not isinstance(value, str):
        raise ValidationError(path, value, "expected a str (or the raw bytes)")
    return check.encodable(path, value)


def _request_headers(value: object) -> dict[str, str]:
    """Converter: the headers, names and values as ``str``; raw ``bytes`` (ASGI) are
    read as Latin-1, as HTTP servers do. A name given more than once (in any case) is
    one field whose values are joined with ``", "`` (RFC 9110, 5.3)."""
    headers: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for name, given in _pairs("request.headers", value):
        if not isinstance(name, str | bytes):
            raise ValidationError("request.headers", name, "expected header names as str")
        name = _header_text("request.headers", name)
        text = _header_text(f"request.headers[{name!r}]", given)
        first = spelling.setdefault(name.lower(), name)
        headers[first] = f"{headers[first]}, {text}" if first in headers else text
    return headers


def _request_body(value: object) -> bytes:
    """Converter: the raw body as bytes (a ``bytearray`` or ``memoryview`` is copied)."""
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    if not isinstance(value, bytes):
        raise ValidationError("request.body", value,
                              "expected the raw body as bytes, exactly as received (a "
                              "decoded str may not give back the bytes that were signed)")
    return value


@attrs.frozen
class WebhookRequest:
    """What a signature covers: the request's parameters (query string and form
    fields, one value each), its headers and its raw body, exactly as received.

    Checked when built: a value that is not text is a
    :class:`~orderkit.model.errors.ValidationError` naming ``request.body``,
    ``request.headers[name]`` or ``request.params[name]``. The common shapes are read
    where that is unambiguous: header names and values as raw ``bytes`` (Latin-1, as
    HTTP servers read them), a header given twice (joined with ``", "``), a parameter as
    a one-element list (``parse_qs``), pairs instead of a mapping (ASGI headers,
    ``parse_qsl``), a ``bytearray`` or ``memoryview`` body. A parameter with several
    values and a ``str`` body are refused."""

    params: Mapping[str, str] = attrs.field(factory=dict, converter=_request_params)
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_request_headers)
    body: bytes = attrs.field(default=b"", converter=_request_body)

    def header(self, name: str) -> str | None:
        """The header ``name`` (any case), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


_NON_EMPTY_TEXT: Final = check.text(allow_empty=False)


def _redacted(value: object) -> str:
    """What an error shows of a secret: its length or its type, never its text."""
    if isinstance(value, str):
        return f"<secret, {len(value)} characters>"
    return f"<secret, {type(value).__name__}>"


def _secret(instance: object, attribute: Any, value: Any) -> None:
    """A signing secret: checked as any non-empty text field is (a string, neither
    blank nor longer than 4096 characters, no NUL, encodable as UTF-8), but refused
    with the value redacted, since an error ends up in logs."""
    try:
        _NON_EMPTY_TEXT(instance, attribute, value)
    except ValidationError as error:
        refused = error
    else:
        return
    # Raised outside the ``except`` so that the original (which holds the secret) is
    # not chained to it as its ``__context__``.
    raise ValidationError(refused.path, _redacted(value), refused.reason)


@runtime_checkable
class SignatureCheck(Protocol):
    """One platform's signing rule."""

    @property
    def platform(self) -> str:
        """The platform the rule is for (read-only, as the frozen checkers have it)."""
        ...

    def verify(self, request: WebhookRequest) -> None:
        """Raise :class:`~orderkit.model.errors.InvalidSignature` unless ``request``
        carries this platform's valid signature."""
        ...


def _sorted_pairs(params: Mapping[str, str], skip: str) -> str:
    """``name + value`` of every parameter but ``skip``, sorted by name (code point
    order, which is ASCII order for the platforms' parameter names); empty values are
    left out."""
    return "".join(f"{name}{value}" for name, value in sorted(params.items())
                   if name != skip and name and value != "")


def _md5_upper(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.md5(data, usedforsecurity=False).hexdigest().upper()


def _compare(platform: str, field: str, given: str | None, expected: str) -> None:
    if given is None or given == "":
        raise InvalidSignature(platform, field, "missing")
    if not hmac.compare_digest(given.strip().upper().encode("utf-8"),
                               expected.upper().encode("utf-8")):
        raise InvalidSignature(platform, field, "does not match")


def _params(request: object) -> WebhookRequest:
    if not isinstance(request, WebhookRequest):
        raise ValidationError("request", request, "expected a WebhookRequest")
    return request


@attrs.frozen
class TopSignature:
    """Taobao/Tmall TOP: ``sign`` over the sorted parameters (and body), by
    ``sign_method`` (see the module docstring)."""

    secret: str = attrs.field(validator=_secret, repr=False)
    platform: str = "tmall"

    def sign(self, params: Mapping[str, str], body: bytes = b"") -> str:
        """The ``sign`` value of ``params`` (and ``body``), by their ``sign_method``."""
        method = params.get("sign_method", "md5") or "md5"
        text = _sorted_pairs(params, "sign").encode("utf-8") + body
        key = self.secret.encode("utf-8")
        if method == "md5":
            return _md5_upper(key + text + key)
        if method == "hmac":
            return hmac.new(key, text, hashlib.md5).hexdigest().upper()
        if method == "hmac-sha256":
            return hmac.new(key, text, hashlib.sha256).hexdigest().upper()
        raise InvalidSignature(self.platform, "sign_method",
                               f"{method!r} is none of {', '.join(TOP_METHODS)}")

    def verify(self, request: WebhookRequest) -> None:
        request = _params(request)
        _compare(self.platform, "sign", request.params.get("sign"),
                 self.sign(request.params, request.body))


def _covered(request: WebhookRequest, body_param: str | None, platform: str) -> dict[str, str]:
    """The signed parameters: the request's, with the raw body as the value of
    ``body_param``; a body that no parameter stands for is refused (the rule signs
    parameters only, so such a body could be anything)."""
    params = dict(request.params)
    if body_param is not None:
        if request.body and body_param in params:
            raise InvalidSignature(platform, body_param,
                                   "given both as a parameter and as the body")
        if request.body:
            params[body_param] = request.body.decode("utf-8")
    elif request.body:
        raise InvalidSignature(platform, "body", "not covered by the signature (set body_param)")
    return params


def _decoded(request: WebhookRequest, platform: str) -> WebhookRequest:
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidSignature(platform, "body", "not UTF-8 text") from None
    return request


@attrs.frozen
class JdSignature:
    """JD: ``sign`` is MD5 of ``secret + sorted pairs + secret``, upper-case hex.

    JD's rule signs parameters; a receiver given the business JSON as the raw body names
    the parameter it stands for in ``body_param`` (JD's ``360buy_param_json``)."""

    secret: str = attrs.field(validator=_secret, repr=False)
    body_param: str | None = "360buy_param_json"
    platform: str = "jd"

    def sign(self, params: Mapping[str, str]) -> str:
        """The ``sign`` value of ``params``."""
        return _md5_upper(self.secret + _sorted_pairs(params, "sign") + self.secret)

    def verify(self, request: WebhookRequest) -> None:
        request = _decoded(_params(request), self.platform)
        signed = _covered(request, self.body_param, self.platform)
        _compare(self.platform, "sign", request.params.get("sign"), self.sign(signed))


@attrs.frozen
class PddSignature:
    """Pinduoduo: ``sign`` is MD5 of ``client_secret + sorted pairs + client_secret``,
    upper-case hex. As for JD, ``body_param`` names the parameter a raw body stands for
    (none by default: a request with a body is then refused)."""

    client_secret: str = attrs.field(validator=_secret, repr=False)
    body_param: str | None = None
    platform: str = "pdd"

    def sign(self, params: Mapping[str, str]) -> str:
        """The ``sign`` value of ``params``."""
        return _md5_upper(self.client_secret + _sorted_pairs(params, "sign")
                          + self.client_secret)

    def verify(self, request: WebhookRequest) -> None:
        request = _decoded(_params(request), self.platform)
        signed = _covered(request, self.body_param, self.platform)
        _compare(self.platform, "sign", request.params.get("sign"), self.sign(signed))


@attrs.frozen
class DouyinSignature:
    """Douyin shop message push: the ``event-sign`` header is the MD5 hex of
    ``app_key + body + app_secret``; the ``app-id`` header must be ``app_key``
    (``missing`` or ``does not match`` otherwise)."""

    app_key: str = attrs.field(validator=check.text(allow_empty=False))
    app_secret: str = attrs.field(validator=_secret, repr=False)
    platform: str = "douyin"

    def sign(self, body: bytes) -> str:
        """The ``event-sign`` value of ``body`` (lower-case hex, as pushed)."""
        text = self.app_key.encode("utf-8") + body + self.app_secret.encode("utf-8")
        return hashlib.md5(text, usedforsecurity=False).hexdigest()

    def verify(self, request: WebhookRequest) -> None:
        request = _params(request)
        _compare(self.platform, "event-sign", request.header("event-sign"),
                 self.sign(request.body))
        # A push without app-id, or naming another app, is not this app's push (public
        # Douyin shop SDKs refuse it too), whatever its signature says.
        _compare_exact(self.platform, "app-id", request.header("app-id"), self.app_key)


def _body_hmac_base64(secret: str, body: bytes) -> str:
    """Base64 of the HMAC-SHA256 of ``body`` keyed with ``secret`` (UTF-8)."""
    mac = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


def _compare_exact(platform: str, field: str, given: str | None, expected: str) -> None:
    """Compared exactly (surrounding blanks aside), in constant time: base64 is
    case-sensitive, and so is an app id."""
    if given is None or given.strip() == "":
        raise InvalidSignature(platform, field, "missing")
    if not hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8")):
        raise InvalidSignature(platform, field, "does not match")


@attrs.frozen
class ShopifySignature:
    """Shopify webhooks: the ``X-Shopify-Hmac-Sha256`` header is the base64 HMAC-SHA256
    of the raw body, keyed with the app's client secret (API secret key)."""

    client_secret: str = attrs.field(validator=_secret, repr=False)
    platform: str = "shopify"

    #: The header carrying the signature.
    header: ClassVar[str] = "X-Shopify-Hmac-Sha256"

    def sign(self, body: bytes) -> str:
        """The header's value for ``body``."""
        return _body_hmac_base64(self.client_secret, body)

    def verify(self, request: WebhookRequest) -> None:
        request = _params(request)
        _compare_exact(self.platform, self.header, request.header(self.header),
                        self.sign(request.body))


@attrs.frozen
class WooCommerceSignature:
    """WooCommerce webhooks: the ``X-WC-Webhook-Signature`` header is the base64
    HMAC-SHA256 of the raw body, keyed with the secret set on the webhook (as entered:
    WooCommerce undoes the HTML escaping of its stored copy before signing)."""

    secret: str = attrs.field(validator=_secret, repr=False)
    platform: str = "woocommerce"

    #: The header carrying the signature.
    header: ClassVar[str] = "X-WC-Webhook-Signature"

    def sign(self, body: bytes) -> str:
        """The header's value for ``body``."""
        return _body_hmac_base64(self.secret, body)

    def verify(self, request: WebhookRequest) -> None:
        request = _params(request)
        _compare_exact(self.platform, self.header, request.header(self.header),
                        self.sign(request.body))
