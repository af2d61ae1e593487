"""Webhook, poll and backfill deliver the same versions in any order, any number of
times: the stored orders, their events and the stock equal delivering each version
once, in modified-time order."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderkit.testing import FileChannelClient

LIVES = (("unpaid", "paid", "shipped", "finished"), ("unpaid", "paid", "cancelled"),
         ("paid", "shipped"), ("unpaid", "cancelled"))
SKUS = ("TEA-OOLONG-250G", "100012345681")


def _versions(versions: Any, shop: Any, lives: list[int]) -> list[list[dict[str, Any]]]:
    start = shop.clock.now() - timedelta(days=2)
    out = []
    for n, life in enumerate(lives):
        stages = LIVES[life]
        out.append([versions(str(9000 + n), stage, start + timedelta(minutes=7 * k + n))
                    for k, stage in enumerate(stages)])
    return out


def _state(shop: Any, count: int) -> Any:
    orders = []
    for n in range(count):
        order = shop.repository.get(f"jd:{9000 + n}")
        orders.append((
            order.status,
            [dict(line.quantities) for line in order.lines],
            sorted(order.applied_event_ids),
            [(s.carrier, s.waybill, dict(s.lines)) for s in order.shipments],
            str(order.totals.paid), str(order.totals.refunded), str(order.totals.sold),
            [h.kind for h in order.holds],
            sorted(m.message.topic for m in shop.repository.pending(10_000)
                   if m.message.order_id == order.order_id),
        ))
    stock = [shop.ledger.stock(sku) for sku in SKUS]
    return orders, stock


def _deliver(shop: Any, how: str, payload: dict[str, Any], folder: Path, k: int) -> None:
    if how == "webhook":
        shop.sync.receive("jd", payload, received_at=shop.clock.now())
        return
    path = folder / f"delivery-{k}.jsonl"
    path.write_text(json.dumps(payload, ensure_ascii=False) + "\n", "utf-8")
    client = FileChannelClient(path, platform="jd", shop=f"shop-{k}")
    start = shop.clock.now() - timedelta(days=3)
    if how == "poll":
        shop.sync.poll("jd", client, start=start)
    else:
        shop.sync.backfill("jd", client, start, shop.clock.now())


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lives=st.lists(st.integers(0, len(LIVES) - 1), min_size=1, max_size=3),
    data=st.data(),
)
def test_any_order_and_any_repeats_converge(
    lives: list[int], data: st.DataObject, versions: Any, new_shop: Any,
    tmp_path_factory: Any,
) -> None:
    folder = tmp_path_factory.mktemp("deliveries")
    reference, shuffled = new_shop(), new_shop()
    for shop in (reference, shuffled):
        shop.stock(*SKUS)
    chains = _versions(versions, reference, lives)
    for chain in chains:
        for payload in chain:
            reference.sync.receive("jd", payload, received_at=reference.clock.now())
    every = [(n, k) for n, chain in enumerate(chains) for k in range(len(chain))]
    extra = data.draw(st.lists(st.sampled_from(every), max_size=8))
    order = data.draw(st.permutations(every + extra))
    hows = data.draw(st.lists(st.sampled_from(["webhook", "poll", "backfill"]),
                              min_size=len(order), max_size=len(order)))
    for k, ((n, v), how) in enumerate(zip(order, hows, strict=True)):
        _deliver(shuffled, how, chains[n][v], folder, k)
    assert _state(shuffled, len(chains)) == _state(reference, len(chains))
