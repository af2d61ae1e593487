"""The shared month-end month: settle() finds exactly the breaks it was built with."""

from __future__ import annotations

import pytest

from orderkit.model.errors import ValidationError
from orderkit.reconcile import settle
from orderkit.testing.settlement_month import BREAK_KINDS, settlement_month


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_settle_finds_exactly_the_breaks_the_month_was_built_with(seed: int) -> None:
    month = settlement_month(800, seed=seed, break_rate=0.004)
    result = settle(month.erp, month.bills, month.bank)
    found = {r.record_id for o in result.breaks() for r in o.records}
    assert found == month.break_ids()
    assert all(month.breaks[kind] for kind in BREAK_KINDS)
    summary = result.summary()
    assert result.conservation()["balanced"] is True and summary["records_in"] == month.records
    # The bill has the Alipay withdrawals; WeChat Pay's payouts are derived, one a day.
    assert {r.kind for r in month.bills["alipay"]} >= {"sale", "fee", "transfer"}
    assert {p.source for p in result.derived} == {"wechatpay"}


def test_the_same_seed_builds_the_same_month_and_bad_sizes_are_refused() -> None:
    first, again = settlement_month(100, seed=5), settlement_month(100, seed=5)
    assert first == again
    with pytest.raises(ValidationError, match="orders"):
        settlement_month(3)
    with pytest.raises(ValidationError, match="break_rate"):
        settlement_month(100, break_rate=0.5)
