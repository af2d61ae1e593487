"""The memory and SQLite adapters keep the order and sequence contracts."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderkit.adapters.memory import MemoryOrderRepository, MemoryReconIdSequence
from orderkit.adapters.sqlite import SQLiteOrderRepository, SQLiteReconIdSequence
from orderkit.lifecycle.ports import OrderRepository
from orderkit.numbering.ports import ReconIdSequence
from orderkit.testing.contracts import OrderRepositoryContract, ReconIdSequenceContract


class TestMemoryOrderRepository(OrderRepositoryContract):
    def create_repository(self) -> OrderRepository:
        return MemoryOrderRepository()


class TestSQLiteOrderRepository(OrderRepositoryContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "orders.db"

    def create_repository(self) -> OrderRepository:
        return SQLiteOrderRepository(self.path)


class TestSQLiteOrderRepositoryWithoutCache(TestSQLiteOrderRepository):
    """Without its cache the repository knows no stored version when it saves: the
    version, address and waybill checks read the file instead."""

    def create_repository(self) -> OrderRepository:
        return SQLiteOrderRepository(self.path, cache_size=0)


class TestMemoryReconIdSequence(ReconIdSequenceContract):
    def create_sequence(self) -> ReconIdSequence:
        return MemoryReconIdSequence()


class TestSQLiteReconIdSequence(ReconIdSequenceContract):
    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path: Path) -> None:
        self.path = tmp_path / "sequences.db"

    def create_sequence(self) -> ReconIdSequence:
        return SQLiteReconIdSequence(self.path)
