"""The zone a presale's ship-from day begins in is the order repository's
(``ship_from_tz``, the zone of the host's waves): memory, SQLite and PostgreSQL derive
``ship_due_at`` in it, the SQL stores keep it beside the orders and derive the presales
stored before again when it changes, the ``ReadyToShip`` an ``OrderService`` on the
repository writes is due from the same instant, and a bad zone name is refused naming
it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from orderkit import Money, Order, OrderLine, OrderStatus, Payment
from orderkit.adapters.memory import MemoryOrderRepository
from orderkit.adapters.sqlite import SQLiteOrderRepository
from orderkit.errors import ValidationError
from orderkit.lifecycle import Event, OrderService, ReadyToShip, read_event
from orderkit.lifecycle.ports import OrderRepository
from orderkit.model.ship_dates import ship_due_at
from orderkit.model.time import DEFAULT_ACCOUNTING_TZ, accounting_period
from orderkit.outbox import OutboxMessage
from orderkit.testing import ManualClock
from orderkit.testing.samples import sample_order
from orderkit.watch import Watcher, health

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PAID = [OrderStatus.PAID]
#: 2026-03-10 begins at 16:00Z the day before in Shanghai, at 23:00Z in Berlin (CET).
SHANGHAI_DAY = datetime(2026, 3, 9, 16, 0, tzinfo=UTC)
BERLIN_DAY = datetime(2026, 3, 9, 23, 0, tzinfo=UTC)
#: And at 07:00Z the same day in Los Angeles (PDT: daylight saving began on March 8).
LA = "America/Los_Angeles"
LA_DAY = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
_S = timedelta(seconds=1)

Opener = Callable[..., Any]


class Inbox:
    def __init__(self) -> None:
        self.told: list[str] = []

    def notify(self, alert: Any) -> None:
        self.told.append(f"{alert.detail('state')} {alert.subject}")


def _opener(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a repository of the store ``kind`` (the same file or schema each time)."""
    if kind == "memory":
        return lambda **options: MemoryOrderRepository(**options)
    if kind == "sqlite":
        return lambda **options: SQLiteOrderRepository(tmp_path / "shop.db", **options)
    from orderkit.adapters.postgres import PostgresOrderRepository
    from orderkit.testing.postgres import fresh_schema

    dsn, schema = request.getfixturevalue("pg_dsn"), fresh_schema("zone")
    return lambda **options: PostgresOrderRepository(dsn, schema=schema, **options)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return _opener(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """A store that several processes open: SQLite and PostgreSQL."""
    return _opener(request.param, request, tmp_path)


def _presale(repo: OrderRepository, order_id: str = "PRE") -> None:
    repo.save(attrs.evolve(sample_order(order_id, channel_order_id=order_id), shipments=(),
                           status=OrderStatus.PAID, created_at=T0, status_since=T0,
                           paid_at=T0, tags=frozenset({"presale", "ship_from:2026-03-10"})),
              None)


def _due(repo: OrderRepository, before: datetime) -> list[str]:
    return [o.order_id for o in repo.stale(PAID, "ship_due_at", before, 10)]


def test_a_presale_is_due_from_its_day_in_the_repositorys_ship_from_zone(
    opener: Opener,
) -> None:
    repo = opener(ship_from_tz="Europe/Berlin")
    assert repo.ship_from_tz == "Europe/Berlin"
    _presale(repo)
    assert _due(repo, BERLIN_DAY) == []
    assert _due(repo, BERLIN_DAY + _S) == ["PRE"]
    assert repo.stale_count(PAID, "ship_due_at", BERLIN_DAY) == {}
    assert repo.count_by_status("ship_due_at", None, BERLIN_DAY + _S) == {OrderStatus.PAID: 1}
    assert repo.count_by_status("status_since", None, BERLIN_DAY, due_by=BERLIN_DAY) == {}

    # The watch and the health page read it through the repository they are given.
    clock = ManualClock(BERLIN_DAY + timedelta(hours=23, minutes=59))
    inbox = Inbox()
    watcher = Watcher(repo, inbox, clock=clock)
    assert watcher.run_once().raised == ()
    clock.set(BERLIN_DAY + timedelta(hours=24, minutes=1))
    assert [a.key for a in watcher.run_once().raised] == ["paid_not_shipped:PRE"]
    day = accounting_period(BERLIN_DAY + _S, tz="Europe/Berlin")
    report = health(repo, day, now=BERLIN_DAY + timedelta(hours=25))
    assert report.kpi("unshipped_24h").detail == (
        "1 of 1 orders due to ship in the period over 24 h ago")


def test_the_default_ship_from_zone_is_the_accounting_zone(opener: Opener) -> None:
    repo = opener()
    assert repo.ship_from_tz == DEFAULT_ACCOUNTING_TZ == "Asia/Shanghai"
    _presale(repo)
    assert _due(repo, SHANGHAI_DAY) == []
    assert _due(repo, SHANGHAI_DAY + _S) == ["PRE"]


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", "../etc/passwd", 8])
def test_a_bad_ship_from_zone_is_refused_naming_it_before_anything_is_written(
    bad: object, tmp_path: Path,
) -> None:
    path = tmp_path / "shop.db"
    makers: list[Callable[[], object]] = [
        lambda: MemoryOrderRepository(ship_from_tz=bad),  # type: ignore[arg-type]
        lambda: SQLiteOrderRepository(path, ship_from_tz=bad),  # type: ignore[arg-type]
    ]
    for make in makers:
        with pytest.raises(ValidationError) as error:
            make()
        assert (error.value.path, error.value.value) == ("ship_from_tz", bad)
    assert not path.exists()


def test_a_bad_ship_from_zone_is_refused_on_postgres(pg_dsn: str) -> None:
    from orderkit.adapters.postgres import PostgresOrderRepository
    from orderkit.testing.postgres import fresh_schema

    schema = fresh_schema("zone")
    with pytest.raises(ValidationError) as error:
        PostgresOrderRepository(pg_dsn, schema=schema, ship_from_tz="Mars/Olympus")
    assert (error.value.path, error.value.value) == ("ship_from_tz", "Mars/Olympus")
    import psycopg

    with psycopg.connect(pg_dsn) as conn:  # nothing was created
        assert conn.execute("SELECT to_regnamespace(%s)", (schema,)).fetchone() == (None,)


def test_the_stores_zone_is_kept_and_a_change_derives_the_presales_again(
    shared: Opener,
) -> None:
    opener = shared
    first = opener()
    _presale(first, "OLD")  # due from March 10 in Shanghai
    berlin = opener(ship_from_tz="Europe/Berlin")
    assert berlin.ship_from_tz == "Europe/Berlin"
    # The presale stored before is due from March 10 in Berlin now, for every process.
    peer = opener()  # no zone given: the store's
    assert peer.ship_from_tz == "Europe/Berlin"
    for repo in (berlin, peer):
        assert _due(repo, BERLIN_DAY) == []
        assert _due(repo, BERLIN_DAY + _S) == ["OLD"]
        assert repo.count_by_status("ship_due_at", None, BERLIN_DAY) == {}
    _presale(peer, "NEW")
    assert _due(berlin, BERLIN_DAY + _S) == ["NEW", "OLD"]
    assert _due(berlin, BERLIN_DAY) == []
    back = opener(ship_from_tz="Asia/Shanghai")
    assert _due(back, SHANGHAI_DAY + _S) == ["NEW", "OLD"]
    assert _due(back, SHANGHAI_DAY) == []


def test_a_file_of_the_previous_release_keeps_the_accounting_zone(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    repo = SQLiteOrderRepository(path)
    _presale(repo)
    version = repo.database.schema_version("orders")
    repo.database.close()
    with closing(sqlite3.connect(path)) as conn, conn:  # as the previous release left it
        conn.execute("DROP TABLE order_settings")  # and the index steps after it: again
        conn.execute("DROP INDEX order_outbox_delivered")
        conn.execute("UPDATE schema_version SET version = version - 3"
                     " WHERE component = 'orders'")
    upgraded = SQLiteOrderRepository(path)
    assert upgraded.database.schema_version("orders") == version
    assert upgraded.ship_from_tz == "Asia/Shanghai"
    assert _due(upgraded, SHANGHAI_DAY + _S) == ["PRE"]
    berlin = SQLiteOrderRepository(path, ship_from_tz="Europe/Berlin")
    assert _due(berlin, SHANGHAI_DAY + _S) == []
    assert _due(berlin, BERLIN_DAY + _S) == ["PRE"]


class Picks:
    """An event sink keeping the ``ReadyToShip`` facts a warehouse system would read."""

    def __init__(self) -> None:
        self.ready: list[ReadyToShip] = []

    def publish(self, events: Sequence[OutboxMessage]) -> None:
        for message in events:
            fact = read_event(message.payload)
            if isinstance(fact, ReadyToShip):
                self.ready.append(fact)


def _presale_order(order_id: str, *, paid: bool) -> Order:
    """A presale shipping from 2026-03-10, paid in full at ``T0`` (placed paid) or
    not paid yet."""
    price = Money("30.00", "CNY")
    return Order(order_id, "tmall", f"T-{order_id}", [OrderLine("1", "TEA", 1, price)], T0,
                 status=OrderStatus.PAID if paid else OrderStatus.PENDING_PAYMENT,
                 paid_at=T0 if paid else None,
                 payments=[Payment(f"pay-{order_id}", price, T0)] if paid else [],
                 tags=frozenset({"presale", "ship_from:2026-03-10"}))


def _picked(repo: Any, zone_name: str, day: datetime, **service_zone: Any) -> None:
    """An ``OrderService`` on ``repo`` (given ``service_zone``: its ``ship_from_tz``)
    tells the warehouse a presale placed paid and one paid by an event are due from
    ``day``, the start of their ship-from day in ``zone_name``: as ``ship_due_at`` reads
    it, and as the repository stored it."""
    picks = Picks()
    service = OrderService(repo, sink=picks, clock=ManualClock(T0 + timedelta(hours=1)),
                           **service_zone)
    service.place(_presale_order("PLACED", paid=True))
    service.place(_presale_order("LATER", paid=False))
    service.handle("LATER", Event("pay", event_id="pay-LATER", at=T0 + timedelta(minutes=30),
                                  data={"amount": Money("30.00", "CNY")}))
    assert [fact.event_id for fact in picks.ready] == ["placed:PLACED", "pay-LATER"]
    for fact in picks.ready:
        assert fact.ship_due_at == ship_due_at(repo.get(fact.order_id), tz=zone_name) == day
    assert _due(repo, day) == []
    assert _due(repo, day + _S) == ["LATER", "PLACED"]


def test_a_presales_pick_is_due_from_its_day_in_the_repositorys_ship_from_zone(
    opener: Opener,
) -> None:
    repo = opener(ship_from_tz=LA)
    _picked(repo, LA, LA_DAY)


class HostRepository:
    """A host's own repository that says nothing of a ship-from zone (``ship_from_tz``
    given: that one): the memory repository's calls, without its attribute."""

    def __init__(self, inner: MemoryOrderRepository, **zone: object) -> None:
        self._inner = inner
        self.__dict__.update(zone)

    def __getattr__(self, name: str) -> Any:
        if name == "ship_from_tz":
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_a_host_repository_without_a_ship_from_zone_keeps_the_accounting_zone() -> None:
    # The wrapped repository derives its ship_due_at in Los Angeles, but the wrapper does
    # not say so: the service can only fall back to the default accounting zone.
    inner = MemoryOrderRepository(ship_from_tz=LA)
    picks = Picks()
    service = OrderService(HostRepository(inner), sink=picks,
                           clock=ManualClock(T0 + timedelta(hours=1)))
    assert service.ship_from_tz == DEFAULT_ACCOUNTING_TZ
    service.place(_presale_order("PLACED", paid=True))
    assert [fact.ship_due_at for fact in picks.ready] == [SHANGHAI_DAY]
    assert ship_due_at(inner.get("PLACED"), tz=inner.ship_from_tz) == LA_DAY


def test_the_services_ship_from_zone_keyword_tells_a_wrapped_repositorys_zone() -> None:
    _picked(HostRepository(MemoryOrderRepository(ship_from_tz=LA)), LA, LA_DAY,
            ship_from_tz=LA)


def test_the_services_ship_from_zone_keyword_wins_over_the_repositorys() -> None:
    picks = Picks()
    service = OrderService(MemoryOrderRepository(ship_from_tz=LA), sink=picks,
                           clock=ManualClock(T0 + timedelta(hours=1)),
                           ship_from_tz="Europe/Berlin")
    assert service.ship_from_tz == "Europe/Berlin"
    service.place(_presale_order("PLACED", paid=True))
    assert [fact.ship_due_at for fact in picks.ready] == [BERLIN_DAY]


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", 8])
def test_a_bad_ship_from_zone_keyword_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValidationError) as error:
        OrderService(MemoryOrderRepository(ship_from_tz=LA), ship_from_tz=bad)
    assert (error.value.path, error.value.value) == ("ship_from_tz", bad)


@pytest.mark.parametrize("bad", ["Mars/Olympus", "", 8])
def test_a_host_repositorys_bad_ship_from_zone_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(ValidationError) as error:
        OrderService(HostRepository(MemoryOrderRepository(), ship_from_tz=bad))
    assert (error.value.path, error.value.value) == ("repository.ship_from_tz", bad)
