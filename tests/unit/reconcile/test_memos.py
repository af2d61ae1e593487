"""The memo pass: references typed into memos, matched only when unambiguous.

:func:`extract_refs` is held to the extraction rule as the docs state it
(:func:`_plain_extract`, written here without shortcuts) on random memos: spaces,
full-width characters, lower case, words around the reference, several candidates. The
pass itself is held to its rule through the public API on random sides: a memo match
pairs the memo's record with every open candidate it names when they add up to its
amount within the rounding tolerance; everything else a memo finds is a suggestion and
never a match.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from orderkit.model.money import Money
from orderkit.reconcile import Record, Rejected, extract_refs, reconcile

T0 = datetime(2026, 2, 16, 2, tzinfo=UTC)
IDS = ["SO20260216000892", "SO20260216000893", "AB20260216000001"]
NUMBERS = ["3698512204871532841", "12345678"]
FULL_WIDTH = str.maketrans("0123456789SOAB", "０１２３４５６７８９ＳＯＡＢ")

_ID = re.compile(r"[A-Z]{1,8}\d{14}(?!\d)")
_RUN = re.compile(r"\d{8,}")


def _plain_extract(memo: str) -> list[str]:
    """The extraction rule as the docs state it, without shortcuts."""
    if not memo:
        return []
    spaced = re.sub(r"[^0-9A-Z]+", " ", unicodedata.normalize("NFKC", memo).upper())
    compact = spaced.replace(" ", "")
    ids: list[str] = []
    for found in (*_ID.findall(spaced), *_ID.findall(compact)):
        letters = len(found) - 14
        ids.extend(found[start:] for start in range(max(letters - 1, 1)))
    digits = _RUN.findall(spaced) + _RUN.findall(compact)
    return list(dict.fromkeys((*ids, *digits)))


def _styled(ref: str, style: int) -> str:
    """``ref`` typed into a memo the way people do."""
    if style == 0:
        return f"货款 {ref[:2]} {ref[2:6]} {ref[6:10]} {ref[10:]}"
    if style == 1:
        return f"付款{ref.translate(FULL_WIDTH)}"
    if style == 2:
        return f"ORDER:{ref[:8]}-{ref[8:]} THANKS"
    if style == 3:
        return f"转账 {ref.lower()}"
    if style == 4:
        return f"paid {ref} and {IDS[0]}"  # two candidates
    return f"ｏｒｄｅｒ{ref}，谢谢"


@st.composite
def sides(draw: st.DrawFn) -> tuple[list[Record | Rejected], list[Record | Rejected]]:
    """An ERP side with refs and links, a bank side whose refs are mostly only in memos
    (and the other way round), so most records reach the memo pass."""
    out: tuple[list[Record | Rejected], list[Record | Rejected]] = ([], [])
    for side, source in ((0, "erp"), (1, "bank")):
        for n in range(draw(st.integers(0, 8))):
            ref = draw(st.sampled_from([*IDS, None, None]))
            memo = ""
            if draw(st.booleans()):
                target = draw(st.sampled_from([*IDS, *NUMBERS]))
                memo = _styled(target, draw(st.integers(0, 5)))
                ref = None
            out[side].append(
                Record(
                    source,
                    f"{source}-{n}",
                    ref,
                    Money(draw(st.sampled_from(["10.00", "10.0", "10.01", "20.00"])), "CNY"),
                    T0 + timedelta(hours=draw(st.integers(-30, 30))),
                    memo=memo,
                    kind=draw(st.sampled_from(["sale", "sale", "sale", "fee", "refund"])),
                    links=tuple(draw(st.lists(st.sampled_from(NUMBERS), max_size=1))),
                )
            )
    return out


@settings(max_examples=300, deadline=None)
@given(data=sides())
def test_a_memo_match_accounts_for_the_whole_amount_and_the_rest_are_suggestions(
    data: tuple[list[Record | Rejected], list[Record | Rejected]],
) -> None:
    left, right = data
    result = reconcile(left, right)
    for outcome in result.outcomes:
        if outcome.rule != "memo_ref":
            continue
        evidence = dict(outcome.evidence)
        candidates = evidence["candidates"].split(",")
        memo_records = [r for r in outcome.records if r.memo == evidence["memo"]]
        assert memo_records
        tokens = evidence["tokens"].split(",")
        assert set(tokens) <= set(_plain_extract(evidence["memo"]))
        if outcome.status == "suggestion":
            assert outcome.kind is None
            assert len(outcome.records) == 1
        else:
            # The memo record against every open candidate it names, adding up to its
            # amount within the rounding tolerance (one fen).
            assert outcome.status in ("matched", "difference")
            # The memo record is the one the candidates do not name (a candidate may
            # carry the same memo text).
            (memo_record,) = [r for r in outcome.records if r.record_id not in candidates]
            assert memo_record.memo == evidence["memo"]
            named = [r for r in outcome.records if r is not memo_record]
            assert sorted(r.record_id for r in named) == sorted(candidates)
            total = sum((r.amount.amount for r in named), Decimal(0))
            assert abs(total - memo_record.amount.amount) <= Decimal("0.01")
            assert outcome.kind in (None, "rounding", "cross_period", "delayed_refund")
    assert result.conservation()["balanced"] is True


@settings(max_examples=500, deadline=None)
@given(
    memo=st.one_of(
        st.text(alphabet="SOsoABXZorder 0123456789-:，ＳＯ０１２货款/ßſ٣\t", max_size=50),
        st.lists(
            st.sampled_from(
                ["SO", "ORDERSO", "ABCDEFGHIJ", "2026", "0216", "000892", "12345678", " ", "-"]
            ),
            max_size=10,
        ).map("".join),
        st.tuples(st.sampled_from([*IDS, *NUMBERS]), st.integers(0, 5)).map(
            lambda pair: _styled(*pair)
        ),
    )
)
def test_memo_candidates_are_the_ones_the_plain_rule_finds(memo: str) -> None:
    assert extract_refs(memo) == _plain_extract(memo)


def rec(source: str, record_id: str, ref: str | None, amount: str, **fields: object) -> Record:
    return Record(source, record_id, ref, Money(amount, "CNY"), T0, **fields)  # type: ignore[arg-type]


def test_one_open_record_with_the_same_amount_is_a_match_with_its_evidence() -> None:
    erp = [rec("erp", "E1", IDS[0], "10.00")]
    bank = [rec("bank", "B1", None, "10.0", memo="转账 so20260216000892 thanks")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.kind, outcome.rule) == ("matched", None, "memo_ref")
    assert outcome.evidence == (
        ("memo", "转账 so20260216000892 thanks"),
        ("tokens", IDS[0]),
        ("candidates", "E1"),
    )


def test_a_different_amount_or_two_candidates_is_only_a_suggestion() -> None:
    erp = [rec("erp", "E1", IDS[0], "10.00"), rec("erp", "E2", IDS[1], "10.00")]
    bank = [
        rec("bank", "B1", None, "10.05", memo=IDS[0]),
        rec("bank", "B2", None, "10.00", memo=f"{IDS[1]} / {IDS[0]}"),
    ]
    result = reconcile(erp, bank)
    suggestions = [o for o in result.outcomes if o.status == "suggestion"]
    assert [(o.right[0].record_id, dict(o.evidence)["candidates"]) for o in suggestions] == [
        ("B1", "E1"),
        ("B2", "E2,E1"),
    ]
    assert not any(o.status == "matched" for o in result.outcomes)


def test_a_fee_memo_finds_only_the_fee_with_that_ref() -> None:
    erp = [
        rec("erp", "E1", IDS[0], "2.00", kind="fee"),
        rec("erp", "E2", IDS[0], "2.00"),
    ]
    bank = [rec("bank", "B1", None, "2.00", kind="fee", memo=f"fee {IDS[0]}")]
    result = reconcile(erp, bank)
    matched = [o for o in result.outcomes if o.rule == "memo_ref"]
    assert [(o.status, o.left[0].record_id, o.left[0].kind) for o in matched] == [
        ("matched", "E1", "fee")
    ]


def test_an_erp_memo_matches_a_bank_record_and_the_side_without_memos_is_left_alone() -> None:
    erp = [rec("erp", "E1", None, "10.00", memo="bank ref 3698512204871532841")]
    bank = [rec("bank", "B1", "3698512204871532841", "10.00")]
    (outcome,) = reconcile(erp, bank).outcomes
    assert (outcome.status, outcome.rule) == ("matched", "memo_ref")
    assert [r.record_id for r in itertools.chain(outcome.left, outcome.right)] == ["E1", "B1"]
