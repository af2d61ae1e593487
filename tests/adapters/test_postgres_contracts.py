"""The PostgreSQL adapters keep every port's contract, on a real server."""

from __future__ import annotations

import pytest

from orderkit.adapters.postgres import (
    PostgresIdempotencyStore,
    PostgresInventoryStore,
    PostgresOrderRepository,
    PostgresReconIdSequence,
    PostgresSyncStore,
    PostgresWatchState,
)
from orderkit.idempotency.ports import IdempotencyStore
from orderkit.inventory.ports import InventoryStore
from orderkit.lifecycle.ports import OrderRepository
from orderkit.numbering.ports import ReconIdSequence
from orderkit.sync.ports import SyncStore
from orderkit.testing.contracts import (
    IdempotencyStoreContract,
    InventoryStoreContract,
    OrderRepositoryContract,
    OutboxRetentionContract,
    OutboxStoreContract,
    ReconIdSequenceContract,
    SyncStoreContract,
    WatchStateContract,
)
from orderkit.testing.postgres import fresh_schema
from orderkit.watch.ports import WatchState


class _OnPostgres:
    @pytest.fixture(autouse=True)
    def _server(self, pg_dsn: str) -> None:
        self.dsn = pg_dsn


class TestPostgresOrderRepository(_OnPostgres, OrderRepositoryContract):
    def create_repository(self) -> OrderRepository:
        return PostgresOrderRepository(self.dsn, schema=fresh_schema())


class TestPostgresOutboxStore(_OnPostgres, OutboxStoreContract, OutboxRetentionContract):
    def create_store(self) -> OrderRepository:
        return PostgresOrderRepository(self.dsn, schema=fresh_schema())

    def create_peer(self, store: OrderRepository) -> OrderRepository:
        assert isinstance(store, PostgresOrderRepository)
        return PostgresOrderRepository(self.dsn, schema=store.database.schema)


class TestPostgresInventoryStore(_OnPostgres, InventoryStoreContract):
    def create_store(self) -> InventoryStore:
        return PostgresInventoryStore(self.dsn, schema=fresh_schema())


class TestPostgresIdempotencyStore(_OnPostgres, IdempotencyStoreContract):
    def create_store(self) -> IdempotencyStore:
        return PostgresIdempotencyStore(self.dsn, schema=fresh_schema())

    def create_peer(self, store: IdempotencyStore) -> IdempotencyStore:
        assert isinstance(store, PostgresIdempotencyStore)
        return PostgresIdempotencyStore(self.dsn, schema=store.database.schema)


class TestPostgresReconIdSequence(_OnPostgres, ReconIdSequenceContract):
    def create_sequence(self) -> ReconIdSequence:
        return PostgresReconIdSequence(self.dsn, schema=fresh_schema())


class TestPostgresSyncStore(_OnPostgres, SyncStoreContract):
    def create_store(self) -> SyncStore:
        return PostgresSyncStore(self.dsn, schema=fresh_schema())


class TestPostgresWatchState(_OnPostgres, WatchStateContract):
    def create_state(self) -> WatchState:
        return PostgresWatchState(self.dsn, schema=fresh_schema())

    def create_peer(self, state: WatchState) -> WatchState:
        assert isinstance(state, PostgresWatchState)
        return PostgresWatchState(self.dsn, schema=state.database.schema)
