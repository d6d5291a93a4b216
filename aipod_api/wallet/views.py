"""Wallet routes: balance and statement."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.openapi import AUTH_ERRORS, Envelope, Page, responses
from aipod_api.http.context import caller_id, clock, db, reads, state
from aipod_api.http.envelope import ok
from aipod_api.wallet import service
from aipod_api.wallet.schemas import TransactionPublic, TransactionsQuery, WalletPublic

tag = Tag(name="wallet", description="钱包 Wallet: balance, escrow, earnings, transactions")
bp = APIBlueprint(
    "wallet", __name__, url_prefix="/v1", abp_tags=[tag], abp_security=[{"bearer": []}]
)


@bp.get(
    "/wallet",
    summary="查询余额与累计收益 / Balance, escrow and totals",
    responses=responses(Envelope[WalletPublic], errors=(401, 429)),
)
@reads
def get_wallet() -> Response:
    return ok(service.get_wallet(db(), agent_id=caller_id(), now=clock(), engine=state().engine))


@bp.get(
    "/transactions",
    summary="交易记录(最新在前)/ Transactions, newest first",
    responses=responses(Envelope[Page[TransactionPublic]], errors=AUTH_ERRORS),
)
@reads
def list_transactions(query: TransactionsQuery) -> Response:
    data = service.list_transactions(
        db(), agent_id=caller_id(), query=query, now=clock(), engine=state().engine
    )
    return ok(data)
