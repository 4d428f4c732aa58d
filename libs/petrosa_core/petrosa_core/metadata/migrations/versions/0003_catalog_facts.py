"""Catalog entries carry a category and an expected update frequency; empty descriptions
of existing entries are filled in.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels = None
depends_on = None

# Frozen here, as of this revision, so later changes to the catalog's wording never
# rewrite history: kind -> (category, update frequency, what the records are).
FACTS = {
    "candles": ("ohlcv", "", "candles (OHLCV)"),
    "trades": ("trades", "realtime", "aggregate and raw trades"),
    "depth": ("order_book", "100ms", "order-book diff updates"),
    "mark_prices": ("derivatives", "3s", "mark and index prices with the funding rate"),
    "funding_rates": ("derivatives", "8h", "realised funding rates"),
    "tickers": ("statistics", "500ms", "24-hour rolling tickers"),
    "book_tickers": ("order_book", "realtime", "best bid and ask"),
}
_datasets = sa.table(
    "datasets",
    sa.column("id", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("symbol", sa.String()),
    sa.column("interval", sa.String()),
    sa.column("description", sa.String()),
    sa.column("category", sa.String()),
    sa.column("update_frequency", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("category", sa.String(32), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("update_frequency", sa.String(16), nullable=False, server_default="")
        )
    conn = op.get_bind()
    c = _datasets.c
    for row in conn.execute(sa.select(c.id, c.kind, c.symbol, c.interval, c.description)).all():
        category, frequency, what = FACTS.get(row.kind, ("", "", row.kind))
        if row.kind == "candles" and row.interval:
            frequency, what = row.interval, f"{row.interval} {what}"
        values = {"category": category, "update_frequency": frequency}
        if not row.description:
            values["description"] = f"{row.symbol} {what} from Binance USD-M futures"
        conn.execute(sa.update(_datasets).where(_datasets.c.id == row.id).values(values))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("update_frequency")
        batch.drop_column("category")
