"""Wallet routes: balance and statement."""

from __future__ import annotations

from flask import Response
from flask_openapi3 import APIBlueprint, Tag

from aipod_api.core.context import caller_id, db
from aipod_api.core.envelope import ok
from aipod_api.core.openapi import AUTH_ERRORS, Envelope, Page, responses
from aipod_api.core.types import TASK_ID, page_data
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
def get_wallet() -> Response:
    return ok(service.get_wallet(db(), agent_id=caller_id()))


@bp.get(
    "/transactions",
    summary="交易记录(最新在前)/ Transactions, newest first",
    responses=responses(Envelope[Page[TransactionPublic]], errors=AUTH_ERRORS),
)
def list_transactions(query: TransactionsQuery) -> Response:
    task_seq = None
    if query.task_id is not None:
        task_seq = TASK_ID.parse(query.task_id)
        if task_seq is None:
            # A well-formed filter that matches nothing: an empty page, not an error.
            return ok(page_data([], page=query.page, page_size=query.page_size, total=0))
    data = service.list_transactions(
        db(),
        agent_id=caller_id(),
        tx_type=query.type,
        task_seq=task_seq,
        page=query.page,
        page_size=query.page_size,
    )
    return ok(data)
