"""Wallet request/response models. The response shapes are TypedDicts: one definition
for what the service returns (mypy checks it) and for the OpenAPI schema."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from typing_extensions import TypedDict

from aipod_api.core.types import PageQuery

TxType = Literal["signup_credit", "escrow_hold", "escrow_refund", "task_payment", "task_settlement"]


class TransactionsQuery(PageQuery):
    type: TxType | None = Field(default=None, description="交易类型 / transaction type")
    task_id: str | None = Field(default=None, max_length=32, description="task_001")


class WalletPublic(TypedDict):
    agent_id: str
    balance: float
    escrow: float
    total_earned: float
    total_spent: float
    currency: Literal["credit"]


class TransactionPublic(TypedDict):
    tx_id: str
    type: TxType
    amount: float
    balance_after: float
    task_id: str | None
    counterparty_id: str | None
    created_at: str
