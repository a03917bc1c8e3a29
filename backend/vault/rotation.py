"""Re-encrypt every stored secret with the active key, safely next to running refreshes.

Each row is rewritten with a compare-and-set on the ciphertexts it was read with (and on
`token_version` for connections): a refresh that committed a rotated refresh token in between
makes the update match nothing, so an old token is never written back (design: "Refresh":
"Write the rotated token with a column-scoped update or a version check"). Such rows are
looked at again by the next pass. `token_version` itself is not bumped: re-sealing does not
change the token, and a request waiting for a refresh compares versions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from backend.db.models import Connection, Flow
from backend.vault.crypto import KeyRing, aad
from backend.vault.errors import VaultError

log = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_PASSES = 20


@dataclass
class RotationResult:
    resealed: int = 0
    unreadable: int = 0  # found in the last pass: damaged, or sealed with a missing key
    passes: int = 0


@dataclass
class _Pass:
    resealed: int = 0
    unreadable: int = 0
    raced: int = 0  # rows that changed between our read and our write: look again


def _not_active(column: InstrumentedAttribute[Any], prefix: str) -> ColumnElement[bool]:
    # An empty value holds nothing to seal: a flow's verifier is emptied once the flow ends.
    # autoescape: '_' and '%' in a key id must not act as LIKE wildcards.
    return and_(column.is_not(None), column != "", ~column.startswith(prefix, autoescape=True))


def _same(column: InstrumentedAttribute[Any], value: str | None) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _reseal(ring: KeyRing, blob: str | None, associated: str) -> str | None:
    if not blob or blob.startswith(f"v1.{ring.active_kid}."):
        return blob
    return ring.reseal(blob, associated)


def _batches(
    sessions: sessionmaker[Session],
    query: Select[*tuple[Any, ...]],
    key: InstrumentedAttribute[str],
) -> Iterator[Sequence[Row[*tuple[Any, ...]]]]:
    """The rows of `query` in `key` order, BATCH_SIZE at a time, each batch read in its own session.

    Keyset paging: a batch starts after the last key of the one before (the rows carry `id`).
    """
    after = ""
    while True:
        with sessions() as session:
            rows = session.execute(query.where(key > after).order_by(key).limit(BATCH_SIZE)).all()
        if not rows:
            return
        after = rows[-1].id
        yield rows


def _connections_pass(sessions: sessionmaker[Session], ring: KeyRing, stats: _Pass) -> None:
    prefix = f"v1.{ring.active_kid}."
    stale = select(
        Connection.id, Connection.token_version, Connection.refresh_ct, Connection.access_ct
    ).where(
        or_(_not_active(Connection.refresh_ct, prefix), _not_active(Connection.access_ct, prefix))
    )
    for rows in _batches(sessions, stale, Connection.id):
        with sessions.begin() as session:
            for row in rows:
                try:
                    new_refresh = _reseal(
                        ring, row.refresh_ct, aad("connection", row.id, "refresh_token")
                    )
                    new_access = _reseal(
                        ring, row.access_ct, aad("connection", row.id, "access_token")
                    )
                except VaultError as exc:
                    log.warning(
                        "connection %s: a secret could not be re-encrypted: %s", row.id, exc
                    )
                    stats.unreadable += 1
                    continue
                changed = session.execute(
                    update(Connection)
                    .where(
                        Connection.id == row.id,
                        Connection.token_version == row.token_version,
                        _same(Connection.refresh_ct, row.refresh_ct),
                        _same(Connection.access_ct, row.access_ct),
                    )
                    .values(
                        refresh_ct=new_refresh,
                        access_ct=new_access,
                        updated_at=Connection.updated_at,  # not a change the user made
                    )
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount == 1:  # type: ignore[attr-defined]
                    stats.resealed += int(new_refresh != row.refresh_ct)
                    stats.resealed += int(new_access != row.access_ct)
                else:
                    stats.raced += 1


def _flows_pass(sessions: sessionmaker[Session], ring: KeyRing, stats: _Pass) -> None:
    prefix = f"v1.{ring.active_kid}."
    stale = select(Flow.id, Flow.verifier_ct).where(_not_active(Flow.verifier_ct, prefix))
    for rows in _batches(sessions, stale, Flow.id):
        with sessions.begin() as session:
            for row in rows:
                try:
                    new = ring.reseal(row.verifier_ct, aad("flow", row.id, "pkce_verifier"))
                except VaultError as exc:
                    log.warning("flow %s: the verifier could not be re-encrypted: %s", row.id, exc)
                    stats.unreadable += 1
                    continue
                changed = session.execute(
                    update(Flow)
                    .where(Flow.id == row.id, Flow.verifier_ct == row.verifier_ct)
                    .values(verifier_ct=new)
                    .execution_options(synchronize_session=False)
                )
                if changed.rowcount == 1:  # type: ignore[attr-defined]
                    stats.resealed += 1
                else:
                    stats.raced += 1


def reencrypt_all(
    sessions: sessionmaker[Session], ring: KeyRing, *, settle_s: float = 0.0
) -> RotationResult:
    """Passes until one re-seals nothing and races with nothing (and `settle_s` has passed).

    `settle_s` covers backends that keep sealing with the old key for a moment after the key
    file changed; their rows show up in a later pass. Unreadable rows are counted, not fixed.
    """
    result = RotationResult()
    started = time.monotonic()
    while result.passes < MAX_PASSES:
        result.passes += 1
        stats = _Pass()
        _connections_pass(sessions, ring, stats)
        _flows_pass(sessions, ring, stats)
        result.resealed += stats.resealed
        result.unreadable = stats.unreadable
        quiet = stats.resealed == 0 and stats.raced == 0
        if quiet and time.monotonic() - started >= settle_s:
            break
        if quiet:
            time.sleep(0.25)
    log.info(
        "re-encrypted %d secrets with key %s in %d passes (%d unreadable)",
        result.resealed,
        ring.active_kid,
        result.passes,
        result.unreadable,
    )
    return result
