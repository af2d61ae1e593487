"""Two notifiers that ship with orderkit: one line per alert on a stream, and a webhook
that receives each alert as a JSON body."""

from __future__ import annotations

import json
import sys
import urllib.parse
import urllib.request
from typing import TextIO

from orderkit.model.alerts import Alert
from orderkit.model.errors import StoreError, ValidationError

__all__ = ["StdoutNotifier", "WebhookNotifier", "alert_json"]


def alert_json(alert: Alert) -> dict[str, object]:
    """The alert as a JSON object: kind, severity, subject, message, at (ISO) and the
    details as an object."""
    return {
        "kind": alert.kind,
        "severity": alert.severity,
        "subject": alert.subject,
        "message": alert.message,
        "at": alert.at.isoformat(),
        "details": dict(alert.details),
    }


class StdoutNotifier:
    """Writes one line per alert: time, severity, state, queue, subject and message."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out

    def notify(self, alert: Alert) -> None:
        """Write the alert's line."""
        out = self.out or sys.stdout
        state = alert.detail("state")
        queue = alert.detail("route_to")
        head = f"{alert.at.isoformat()} {alert.severity.upper()} {state} -> {queue}".rstrip()
        print(f"{head} {alert.subject}: {alert.message}", file=out, flush=True)


class WebhookNotifier:
    """POSTs each alert as JSON (:func:`alert_json`) to ``url`` (a WeCom, DingTalk or
    Slack bridge, an incident tool). A failure raises :class:`StoreError`, and the
    watcher sends the alert again next cycle. A URL no request could be sent to (no
    host, a port that is not a number, a space, ``http://[::1``) is refused here with a
    :class:`ValidationError`, before any alert is due."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = _webhook_url(url)
        self.timeout = timeout

    def notify(self, alert: Alert) -> None:
        """POST the alert; raises :class:`StoreError` unless the hook answers 2xx."""
        body = json.dumps(alert_json(alert), ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(  # the URL is checked in __init__
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                status = answer.status
        except OSError as error:
            raise StoreError(f"webhook {self.url}", str(error)) from error
        if not 200 <= status < 300:
            raise StoreError(f"webhook {self.url}", f"answered {status}")


def _webhook_url(url: object) -> str:
    """``url`` if a request can be sent to it: http or https, a host, a port from 0 to
    65535 when given, printable ASCII only (other characters percent-encoded)."""
    if not isinstance(url, str) or not url:
        raise ValidationError("url", url, "expected an http:// or https:// URL")
    if not all("!" <= char <= "~" for char in url):
        raise ValidationError("url", url, "expected a URL without spaces, control or non-ASCII"
                              " characters (percent-encode them)")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  (parsed on access: a port out of range or not a number)
    except ValueError as error:
        raise ValidationError("url", url, f"expected a URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise ValidationError("url", url, "expected an http:// or https:// URL")
    if not parts.hostname:
        raise ValidationError("url", url, "expected a host after the scheme")
    return url
