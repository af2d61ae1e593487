"""Daily difference alerts reach people through the Notifier port."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orderkit.model.alerts import Alert
from orderkit.model.errors import ValidationError
from orderkit.model.money import Money
from orderkit.reconcile import Record, reconcile, reconcile_many
from orderkit.reconcile.alerting import alert_differences, daily_difference_alerts
from orderkit.reconcile.ports import Notifier
from orderkit.testing import ManualClock

T0 = datetime(2026, 2, 16, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


class ListNotifier:
    """A notifier that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    def notify(self, alert: Alert) -> None:
        self.sent.append(alert)


def rec(
    source: str, record_id: str, ref: str | None, amount: str, hours: int = 0, **kw: Any
) -> Record:
    return Record(source, record_id, ref, Money(amount, "CNY"), T0 + timedelta(hours=hours), **kw)


def test_day_with_breaks_over_500_yuan_raises_one_alert() -> None:
    erp = [rec("erp", "E1", "SO1", "400.00"), rec("erp", "E2", "SO2", "600.00", 1)]
    bank = [rec("bank", "B1", "SO1", "399.00", 2)]  # 1.00 short, and SO2 never paid
    notifier = ListNotifier()
    assert isinstance(notifier, Notifier)
    clock = ManualClock(datetime(2026, 2, 17, 1, 0, tzinfo=UTC))
    (alert,) = alert_differences(reconcile(erp, bank), notifier, clock=clock)
    assert notifier.sent == [alert]
    assert (alert.kind, alert.severity, alert.subject) == (
        "reconciliation.difference",
        "warning",
        "erp vs bank 2026-02-16",
    )
    assert alert.detail("total") == "601.00"
    assert alert.detail("kinds") == "amount_mismatch=1, missing_right=1"
    assert alert.at == clock.now()


def test_day_under_the_threshold_and_fees_do_not_alert() -> None:
    erp = [rec("erp", "E1", "SO1", "4000.00")]
    bank = [
        rec("bank", "B1", "SO1", "4000.00", 2),
        rec("bank", "F1", "SO1", "-600.00", 2, kind="fee"),
    ]
    result = reconcile(erp, bank)
    assert daily_difference_alerts(result) == []
    assert len(daily_difference_alerts(result, threshold=Money("0.50", "CNY"))) == 0


def test_threshold_is_configurable_and_days_are_accounting_days() -> None:
    # 23:30 UTC on the 15th is 07:30 on the 16th in Beijing.
    late = Record(
        "erp", "E9", "SO9", Money("80.00", "CNY"), datetime(2026, 2, 15, 23, 30, tzinfo=UTC)
    )
    result = reconcile([late, rec("erp", "E1", "SO1", "30.00")], [])
    (alert,) = daily_difference_alerts(
        result, threshold=Money("100.00", "CNY"), clock=ManualClock(T0)
    )
    assert alert.detail("day") == "2026-02-16" and alert.detail("total") == "110.00"
    assert (
        daily_difference_alerts(result, threshold=Money("110.00", "CNY"), clock=ManualClock(T0))
        == []
    )


def test_a_source_with_no_records_for_the_period_is_named_in_the_alert() -> None:
    erp = [rec("erp", "E1", "SO1", "600.00")]
    result = reconcile_many({"erp": erp, "wechatpay": [], "bank": []})
    assert [(pair.left_source, pair.right_source) for pair in result.pairs.values()] == [
        ("erp", "wechatpay"),
        ("erp", "bank"),
    ]
    notifier = ListNotifier()
    for pair in result.pairs.values():
        alert_differences(pair, notifier, clock=ManualClock(T0))
    assert [alert.subject for alert in notifier.sent] == [
        "erp vs wechatpay 2026-02-16",
        "erp vs bank 2026-02-16",
    ]

def test_alert_is_an_immutable_value_with_validated_fields() -> None:
    alert = Alert("reconciliation.difference", "warning", "day", "text", T0, {"a": "1"})
    assert alert.details == (("a", "1"),)
    with pytest.raises(AttributeError):
        alert.message = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Alert("x", "loud", "day", "text", T0)
    with pytest.raises(ValidationError):
        Alert("x", "info", "day", "text", datetime(2026, 2, 16))
    with pytest.raises(ValidationError):
        daily_difference_alerts(reconcile([], []), threshold="500")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", ["-5", "0.001", "-0.01"])
def test_a_negative_or_sub_fen_threshold_is_refused(amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        daily_difference_alerts(reconcile([], []), threshold=Money(amount, "CNY"))
    assert caught.value.path == "threshold"
    assert "0 or more in whole CNY minor units" in caught.value.reason
    # zero is a threshold: every day with any break alerts
    assert daily_difference_alerts(reconcile([], []), threshold=Money("0", "CNY")) == []
