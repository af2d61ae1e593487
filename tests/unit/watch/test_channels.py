"""Payment channel health, driven by an injected clock: three callbacks missing in a
row degrade a channel (one alert naming the fallback, active queries), the next
callback resolves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orderkit import Order
from orderkit.adapters.memory import MemoryWatchState
from orderkit.adapters.sqlite import SQLiteWatchState
from orderkit.errors import DefinitionError, ValidationError
from orderkit.model.alerts import Alert as Notice
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order
from orderkit.watch import (
    ALIPAY,
    EARLY_CALLBACKS,
    WECHAT_PAY,
    ChannelHealth,
    NotifySchedule,
    PaymentStatus,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.notices: list[Notice] = []
        self.down = False

    def notify(self, alert: Notice) -> None:
        if self.down:
            raise ConnectionError("webhook unreachable")
        self.notices.append(alert)

    def said(self) -> list[str]:
        return [f"{n.detail('state')} {n.subject}" for n in self.notices]


class Gateway:
    """A payment channel's query API as a fake: answers from a dict, remembers asks."""

    def __init__(self, answers: dict[str, PaymentStatus]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def query(self, order: Order) -> PaymentStatus:
        self.asked.append(order.order_id)
        return self.answers.get(order.order_id, PaymentStatus.NOT_PAID)


def test_the_published_schedules_add_up_to_the_channels_totals() -> None:
    assert sum(WECHAT_PAY.intervals, timedelta(0)) == timedelta(hours=24, minutes=4)
    assert len(ALIPAY.intervals) + 1 == 8  # 8 notifications
    assert ALIPAY.gives_up_after == timedelta(hours=24, minutes=22)
    # a callback is missed once the channel has sent its first 4 notifications
    assert WECHAT_PAY.notified_by(4) == timedelta(minutes=1)
    assert ALIPAY.notified_by(4) == timedelta(minutes=24)


def test_three_missed_callbacks_degrade_the_channel_and_a_callback_resolves_it() -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    wechat = Gateway({"W-1": PaymentStatus.PAID, "W-2": PaymentStatus.PAID,
                      "W-3": PaymentStatus.PAID, "W-4": PaymentStatus.PAID})
    health = ChannelHealth(inbox, gateways={"wechat_pay": wechat},
                           fallbacks={"wechat_pay": "alipay"}, clock=clock)
    # A healthy payment: its callback comes within seconds.
    health.expect(sample_order("W-0", channel_order_id="W-0"), "wechat_pay", T0)
    assert health.callback("W-0", T0 + timedelta(seconds=2))
    # Three payments whose callbacks never come.
    for minute, order_id in enumerate(("W-1", "W-2", "W-3"), start=1):
        health.expect(sample_order(order_id, channel_order_id=order_id), "wechat_pay",
                      T0 + timedelta(minutes=minute))

    clock.set(T0 + timedelta(minutes=3, seconds=59))  # W-3's 4th notification not yet due
    report = health.check()
    assert report.status("wechat_pay").misses_in_row == 2
    assert report.raised == () and wechat.asked == [] and not report.status("wechat_pay").degraded
    assert health.channel_for("wechat_pay") == "wechat_pay"

    clock.set(T0 + timedelta(minutes=4))
    report = health.check()
    status = report.status("wechat_pay")
    assert (status.degraded, status.misses_in_row, status.fallback) == (True, 3, "alipay")
    (alert,) = report.raised
    assert alert.key == "payment_channel_degraded:wechat_pay"
    assert (alert.severity, alert.route_to, alert.order_ids) == ("critical", "tech",
                                                                 ("W-1", "W-2", "W-3"))
    assert "fallback channel alipay" in alert.message
    assert health.channel_for("wechat_pay") == "alipay"
    # The missed orders are queried actively; a paid answer is for the host to apply.
    assert wechat.asked == ["W-1", "W-2", "W-3"]
    assert [(i, s) for i, _c, s in report.queried] == [
        ("W-1", PaymentStatus.PAID), ("W-2", PaymentStatus.PAID), ("W-3", PaymentStatus.PAID)]

    # Still degraded a minute later: not sent again, not queried again.
    clock.advance(timedelta(minutes=1))
    report = health.check()
    assert report.raised == report.repeated == () and report.status("wechat_pay").degraded
    assert wechat.asked == ["W-1", "W-2", "W-3"]
    # A fourth miss while degraded is queried too.
    health.expect(sample_order("W-4", channel_order_id="W-4"), "wechat_pay", clock.now())
    clock.advance(timedelta(minutes=1))
    report = health.check()
    assert report.status("wechat_pay").misses_in_row == 4 and wechat.asked[-1] == "W-4"

    # Recovery: a new payment's callback arrives.
    health.expect(sample_order("W-5", channel_order_id="W-5"), "wechat_pay", clock.now())
    clock.advance(timedelta(seconds=5))
    health.callback("W-5")
    report = health.check()
    (resolved,) = report.resolved
    assert resolved.key == alert.key and "W-5" in resolved.message
    assert not report.status("wechat_pay").degraded
    assert health.channel_for("wechat_pay") == "wechat_pay"
    assert inbox.said() == ["raised payment_channel_degraded:wechat_pay",
                            "resolved payment_channel_degraded:wechat_pay"]
    # Alipay was never touched.
    assert not report.status("alipay").degraded


def test_a_restart_keeps_the_channel_degraded_until_a_callback_and_never_resends(
    tmp_path: Path,
) -> None:
    clock = ManualClock(T0)
    db = tmp_path / "watch.db"
    inbox = Inbox()
    first = ChannelHealth(inbox, clock=clock, state=SQLiteWatchState(db))
    for second, order_id in enumerate(("A-1", "A-2", "A-3")):
        first.expect(sample_order(order_id, channel_order_id=order_id), "alipay",
                     T0 + timedelta(seconds=second))
    clock.set(T0 + timedelta(minutes=25))
    report = first.check()
    assert [a.key for a in report.raised] == ["payment_channel_degraded:alipay"]
    assert report.failed == tuple((f"query {i}", "no PaymentGateway for alipay")
                                  for i in ("A-1", "A-2", "A-3"))
    # A new process: its log of expected callbacks is empty, the episode is stored.
    again = ChannelHealth(inbox, clock=clock, state=SQLiteWatchState(db))
    clock.advance(timedelta(minutes=1))
    report = again.check()
    assert report.raised == report.resolved == () and report.status("alipay").degraded
    again.expect(sample_order("A-4", channel_order_id="A-4"), "alipay", clock.now())
    again.callback("A-4", clock.now() + timedelta(seconds=1))
    clock.advance(timedelta(seconds=2))
    assert [a.key for a in again.check().resolved] == ["payment_channel_degraded:alipay"]
    assert inbox.said() == ["raised payment_channel_degraded:alipay",
                            "resolved payment_channel_degraded:alipay"]


def _paid(*prefixes: str) -> Gateway:
    return Gateway({f"{p}-{n}": PaymentStatus.PAID for p in prefixes for n in range(3)})


def _degraded(health: ChannelHealth, clock: ManualClock, prefix: str) -> None:
    """Three WeChat Pay payments whose callbacks never come, checked past their grace."""
    for n in range(3):
        order_id = f"{prefix}-{n}"
        health.expect(sample_order(order_id, channel_order_id=order_id), "wechat_pay",
                      clock.now())
        clock.advance(timedelta(seconds=10))
    clock.advance(timedelta(minutes=2))


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_recovered_notice_that_failed_is_sent_again_at_the_next_check(
    store: str, tmp_path: Path
) -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    state = MemoryWatchState() if store == "memory" else SQLiteWatchState(tmp_path / "w.db")
    health = ChannelHealth(inbox, gateways={"wechat_pay": _paid("D")}, clock=clock,
                           state=state)
    _degraded(health, clock, "D")
    assert [a.key for a in health.check().raised] == ["payment_channel_degraded:wechat_pay"]
    health.expect(sample_order("R-1", channel_order_id="R-1"), "wechat_pay", clock.now())
    health.callback("R-1", clock.now() + timedelta(seconds=1))
    inbox.down = True
    clock.advance(timedelta(seconds=5))
    report = health.check()
    assert report.resolved == ()
    assert report.failed == (("payment_channel_degraded:wechat_pay",
                              "ConnectionError: webhook unreachable"),)
    assert health.channel_for("wechat_pay") == "wechat_pay"  # recovered all the same
    inbox.down = False
    clock.advance(timedelta(minutes=1))
    report = health.check()
    (resolved,) = report.resolved
    assert "recovered: the callback for R-1 arrived" in resolved.message
    clock.advance(timedelta(minutes=1))
    report = health.check()
    assert (report.raised, report.repeated, report.resolved, report.failed) == ((), (), (), ())
    assert inbox.said() == ["raised payment_channel_degraded:wechat_pay",
                            "resolved payment_channel_degraded:wechat_pay"]
    (closed,) = state.history()  # one episode, resolved when the callback proved it
    assert closed.resolved_at == T0 + timedelta(minutes=2, seconds=35)


def test_misses_back_before_the_recovered_notice_got_through_keep_the_alert_up() -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    health = ChannelHealth(inbox, gateways={"wechat_pay": _paid("D", "E")}, clock=clock)
    _degraded(health, clock, "D")
    health.check()
    health.expect(sample_order("R-1", channel_order_id="R-1"), "wechat_pay", clock.now())
    health.callback("R-1", clock.now())
    inbox.down = True
    assert len(health.check().failed) == 1
    inbox.down = False
    _degraded(health, clock, "E")  # down again before anyone heard it was back
    report = health.check()
    assert (report.raised, report.repeated, report.resolved) == ((), (), ())
    assert report.status("wechat_pay").degraded
    assert inbox.said() == ["raised payment_channel_degraded:wechat_pay"]


def test_a_callback_that_arrives_before_its_expect_is_not_a_miss() -> None:
    """WeChat Pay's notification often beats the app's "ok": the callback is remembered
    and the expect() that follows finds it."""
    clock = ManualClock(T0)
    inbox = Inbox()
    health = ChannelHealth(inbox, fallbacks={"wechat_pay": "alipay"}, clock=clock)
    for n in range(3):
        order_id = f"F-{n}"
        assert health.callback(order_id, clock.now()) is False  # not expected yet
        health.expect(sample_order(order_id, channel_order_id=order_id), "wechat_pay",
                      clock.now() - timedelta(seconds=1))
        clock.advance(timedelta(seconds=20))
    clock.advance(timedelta(minutes=2))
    report = health.check()
    status = report.status("wechat_pay")
    assert (status.degraded, status.misses_in_row, status.waiting) == (False, 0, 0)
    assert report.raised == () and inbox.notices == []
    assert health.channel_for("wechat_pay") == "wechat_pay"


def test_an_early_callback_is_remembered_for_the_channels_window_and_bounded() -> None:
    clock = ManualClock(T0)
    health = ChannelHealth(Inbox(), clock=clock)
    health.callback("OLD", T0)
    health.callback("STRAY", T0)  # a callback no expect() follows for a day
    # Alipay notifies for 24 h 22 min: a payment made after that is not the old callback's.
    clock.set(T0 + timedelta(hours=24, minutes=23))
    health.expect(sample_order("OLD", channel_order_id="OLD"), "alipay", clock.now())
    clock.advance(timedelta(minutes=24))
    assert health.check().status("alipay").missed == ("OLD",)
    # Past every channel's window the stray callback was forgotten.
    health.expect(sample_order("STRAY", channel_order_id="STRAY"), "wechat_pay", T0)
    assert health.check().status("wechat_pay").missed == ("STRAY",)

    health = ChannelHealth(Inbox(), clock=clock)
    for n in range(EARLY_CALLBACKS + 1):  # one too many: the oldest is forgotten
        health.callback(f"X-{n}", clock.now())
    for order_id in ("X-0", "X-1"):
        health.expect(sample_order(order_id, channel_order_id=order_id), "wechat_pay",
                      clock.now())
    clock.advance(timedelta(minutes=1))
    status = health.check().status("wechat_pay")
    assert (status.missed, status.waiting) == (("X-0",), 0)


def test_an_unpaid_answer_means_no_callback_was_owed() -> None:
    clock = ManualClock(T0)
    inbox = Inbox()
    gateway = Gateway({})  # every order: not paid (the buyer's side was wrong)
    health = ChannelHealth(inbox, gateways={"wechat_pay": gateway}, clock=clock)
    for order_id in ("N-1", "N-2", "N-3"):
        health.expect(sample_order(order_id, channel_order_id=order_id), "wechat_pay", T0)
    clock.set(T0 + timedelta(minutes=2))
    report = health.check()
    # The three misses are queried before any alert; unpaid, they were never misses.
    assert sorted(gateway.asked) == ["N-1", "N-2", "N-3"]
    assert report.raised == () and inbox.notices == []
    assert report.status("wechat_pay").misses_in_row == 0
    assert not report.status("wechat_pay").degraded
    clock.advance(timedelta(minutes=1))
    health.check()
    assert sorted(gateway.asked) == ["N-1", "N-2", "N-3"]  # asked once


def test_a_payment_the_channel_stopped_notifying_is_queried_even_on_a_healthy_channel() -> None:
    clock = ManualClock(T0)
    gateway = Gateway({"L-1": PaymentStatus.PAID})
    health = ChannelHealth(Inbox(), gateways={"wechat_pay": gateway}, clock=clock)
    health.expect(sample_order("L-1", channel_order_id="L-1"), "wechat_pay", T0)
    clock.set(T0 + timedelta(hours=24, minutes=3))
    assert health.check().queried == ()
    clock.set(T0 + timedelta(hours=24, minutes=4))
    assert [(i, s) for i, _c, s in health.check().queried] == [("L-1", PaymentStatus.PAID)]


class NaiveClock:
    """A host clock that forgot its time zone."""

    def now(self) -> datetime:
        return datetime(2026, 3, 2, 10, 0)


def test_a_clock_without_a_time_zone_is_refused_naming_it() -> None:
    health = ChannelHealth(Inbox(), clock=NaiveClock())
    for call in (lambda: health.expect(sample_order(), "wechat_pay"),
                 lambda: health.callback("W-1"), health.check):
        with pytest.raises(ValidationError) as error:
            call()
        assert (error.value.path, error.value.value) == ("clock.now()", NaiveClock().now())
    with pytest.raises(ValidationError, match="at"):  # out of range, not an OverflowError
        health.expect(sample_order(), "alipay", datetime.max.replace(tzinfo=UTC))


def test_bad_configuration_and_input_name_the_field() -> None:
    with pytest.raises(DefinitionError, match="misses"):
        ChannelHealth(Inbox(), misses=0)
    with pytest.raises(DefinitionError, match="fallbacks"):
        ChannelHealth(Inbox(), fallbacks={"alipay": "alipay"})
    with pytest.raises(DefinitionError, match="notifications"):
        ChannelHealth(Inbox(), notifications=99)
    with pytest.raises(DefinitionError, match="gives_up_after"):
        NotifySchedule("x", (timedelta(hours=2),), timedelta(0))
    with pytest.raises(DefinitionError, match="intervals"):
        NotifySchedule("x", (timedelta(hours=-2),), timedelta(hours=1))
    health = ChannelHealth(Inbox(), clock=ManualClock(T0))
    with pytest.raises(ValidationError, match="channel") as error:
        health.expect(sample_order(), "paypal", T0)
    assert error.value.value == "paypal"
    with pytest.raises(ValidationError, match="at"):
        health.expect(sample_order(), "alipay", datetime(2026, 3, 2))
    assert health.callback("UNKNOWN") is False
