"""Throughput of ``orderkit.mapping.normalize`` against a hand-written mapper.

For a 3-line Tmall trade and a 3-line Douyin order, measures orders/s for:

* ``normalize``: the declarative engine (compiled plan, totals proven);
* ``hand-written``: a function that knows the payload by heart and builds the same
  ``Order`` directly (no checks beyond what the canonical types do themselves).

Run: ``python bench/bench_mapping.py`` (optionally ``--seconds 2``). Prints orders/s per
core for both and their ratio. The targets are >= 20,000 orders/s and a ratio within 2x.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from importlib import resources
from typing import Any

from orderkit.mapping import normalize
from orderkit.model.money import Money
from orderkit.model.orders import (
    Address,
    Adjustment,
    AdjustmentKind,
    Bearer,
    LineStatus,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
)
from orderkit.model.time import parse_timestamp

__all__ = ["hand_douyin", "hand_tmall", "main"]

_TMALL_STATUS = {"WAIT_SELLER_SEND_GOODS": OrderStatus.PAID}
_DOUYIN_STATUS = {2: OrderStatus.PAID}


def _sample(name: str) -> dict[str, Any]:
    text = (
        resources.files("orderkit.mapping")
        .joinpath("samples", f"{name}.json")
        .read_text(encoding="utf-8")
    )
    payload: dict[str, Any] = json.loads(text)
    return payload


def hand_tmall(trade: Mapping[str, Any]) -> Order:
    """The Tmall trade mapped by hand, as an integrator would without the engine."""
    tid = str(trade["tid"])
    lines = []
    adjustments = []
    for sub in trade["orders"]["order"]:
        oid = str(sub["oid"])
        lines.append(
            OrderLine(
                oid,
                sub["outer_sku_id"],
                sub["num"],
                Money(sub["price"], "CNY"),
                title=sub["title"],
                channel_line_id=oid,
            )
        )
        for key, label in (
            ("discount_fee", "sub-order discount"),
            ("part_mjz_discount", "shop-wide discount share"),
        ):
            amount = Decimal(sub[key])
            if amount:
                adjustments.append(
                    Adjustment(
                        AdjustmentKind.DISCOUNT, Money(amount, "CNY"), Bearer.MERCHANT, oid, label
                    )
                )
    post = Decimal(trade["post_fee"])
    if post:
        adjustments.append(Adjustment(AdjustmentKind.SHIPPING, Money(post, "CNY"), Bearer.BUYER))
    paid_at = parse_timestamp(trade["pay_time"], source_tz="Asia/Shanghai")
    payable = Money(trade["payment"], "CNY")
    return Order(
        order_id=f"tmall:{tid}",
        channel="tmall",
        channel_order_id=tid,
        lines=lines,
        created_at=parse_timestamp(trade["created"], source_tz="Asia/Shanghai"),
        status=_TMALL_STATUS[trade["status"]],
        ship_to=Address(
            trade["receiver_name"],
            trade["receiver_mobile"],
            trade["receiver_state"],
            trade["receiver_city"],
            trade["receiver_district"],
            trade["receiver_address"],
            trade["receiver_zip"],
        ),
        adjustments=adjustments,
        payments=[Payment(f"tmall:{tid}:payment", payable, paid_at, reference=trade["alipay_no"])],
        paid_at=paid_at,
        buyer_id=trade["buyer_open_uid"],
    )


def hand_douyin(order: Mapping[str, Any]) -> Order:
    """The Douyin order mapped by hand."""
    oid = order["order_id"]
    lines = [
        OrderLine(
            sku["order_id"],
            sku["code"],
            sku["item_num"],
            Money.from_minor(sku["goods_price"], "CNY"),
            {LineStatus.OPEN: sku["item_num"]},
            sku["product_name"],
            sku["order_id"],
        )
        for sku in order["sku_order_list"]
    ]
    adjustments = []
    for key, kind, bearer in (
        ("post_amount", AdjustmentKind.SHIPPING, Bearer.BUYER),
        ("promotion_shop_amount", AdjustmentKind.DISCOUNT, Bearer.MERCHANT),
        ("promotion_platform_amount", AdjustmentKind.SUBSIDY, Bearer.PLATFORM),
        ("promotion_talent_amount", AdjustmentKind.DISCOUNT, Bearer.INFLUENCER),
        ("promotion_pay_amount", AdjustmentKind.SUBSIDY, Bearer.PLATFORM),
    ):
        if order[key]:
            adjustments.append(Adjustment(kind, Money.from_minor(order[key], "CNY"), bearer))
    paid_at = parse_timestamp(order["pay_time"], source_tz="Asia/Shanghai")
    addr = order["post_addr"]
    return Order(
        order_id=f"douyin:{oid}",
        channel="douyin",
        channel_order_id=oid,
        lines=lines,
        created_at=parse_timestamp(order["create_time"], source_tz="Asia/Shanghai"),
        status=_DOUYIN_STATUS[order["order_status"]],
        ship_to=Address(
            order["mask_post_receiver"],
            order["mask_post_tel"],
            addr["province"]["name"],
            addr["city"]["name"],
            addr["town"]["name"],
            order["mask_post_addr"]["detail"],
        ),
        adjustments=adjustments,
        payments=[
            Payment(
                f"douyin:{oid}:payment",
                Money.from_minor(order["pay_amount"], "CNY"),
                paid_at,
                method=order["pay_type_desc"],
                reference=order["channel_payment_no"],
            )
        ],
        paid_at=paid_at,
        buyer_id=order["doudian_open_id"],
    )


def _race(
    engine: Callable[[], object], hand: Callable[[], object], seconds: float, batch: int = 200
) -> tuple[float, float]:
    """Best orders/s of each, timing one batch of each in turn.

    Alternating batches keeps both measurements under the same machine load (other
    processes come and go); the best batch is the one least disturbed by them.
    """
    engine()
    hand()
    best = [0.0, 0.0]
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for slot, function in enumerate((engine, hand)):
            start = time.perf_counter()
            for _ in range(batch):
                function()
            best[slot] = max(best[slot], batch / (time.perf_counter() - start))
    return best[0], best[1]


def main(argv: list[str] | None = None) -> None:
    """Print orders/s for the engine and the hand-written mapper, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per platform")
    args = parser.parse_args(argv)
    cases = (
        ("tmall", _sample("tmall"), hand_tmall),
        ("douyin", _sample("douyin"), hand_douyin),
    )
    print(f"{'platform':<8} {'normalize/s':>12} {'hand-written/s':>15} {'ratio':>6}")
    for name, payload, hand in cases:
        engine = normalize(name, payload)
        baseline = hand(payload)
        assert engine.totals.payable == baseline.totals.payable, name
        engine_rate, hand_rate = _race(
            functools.partial(normalize, name, payload),
            functools.partial(hand, payload),
            args.seconds,
        )
        ratio = hand_rate / engine_rate
        print(f"{name:<8} {engine_rate:>12,.0f} {hand_rate:>15,.0f} {ratio:>5.2f}x")
    print("(best of alternating 200-order batches, one core; ratio = hand-written / normalize)")


if __name__ == "__main__":
    main()
