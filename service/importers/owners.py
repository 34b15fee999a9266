"""Whose entries a file's rows are: the emails they name, resolved to users in bulk.

A row without an email (or with the acting user's) is the acting user's. Any other email
must be an active user the uploader may act for (permissions.visible_user_ids, the bulk
form of may_see). Only a caller who sees everyone (an admin, a service with
`entries:any-user`) learns that an email is not a user; to anyone else an email outside
their reach is `not_permitted` either way, so an upload cannot probe who has an account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar

from service.db import db
from service.importers.base import Named
from service.models import User
from service.permissions import ENTRIES_ANY_USER
from service.permissions import Principal
from service.permissions import visible_user_ids

UNKNOWN_USER = "unknown_user"
NOT_PERMITTED = "not_permitted"
MESSAGES = {
    UNKNOWN_USER: "no active user has this email",
    NOT_PERMITTED: "is not someone you may import for",
}
T = TypeVar("T")


@dataclass
class Owners:
    """The users a file's emails name, looked up once per new email, and the refused ones."""

    principal: Principal
    users: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def assign(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Turn each row's `email` into its user's `user_id`; drop the rows of refused emails."""
        new = {row["email"] for row in batch if "email" in row} - self.users.keys()
        new -= self.refused.keys()
        if new:
            self._look_up(new)
        kept = []
        for row in batch:
            email = row.pop("email", None)
            if email is None:
                kept.append(row)
            elif email in self.users:
                row["user_id"] = self.users[email]
                kept.append(row)
        return kept

    def _look_up(self, emails: set[str]) -> None:
        """Resolve EMAILS with one query; note the ones that are nobody the caller may reach."""
        visible = visible_user_ids(self.principal, ENTRIES_ANY_USER)
        query = User.select(User.email, User.id).where(User.email.in_(sorted(emails)))
        query = query.where(User.is_active)
        if visible is not None:
            query = query.where(User.id.in_(visible))
        found = dict(on_this_thread(lambda: list(query.tuples())))
        self.users.update({email: str(user_id) for email, user_id in found.items()})
        reason = UNKNOWN_USER if visible is None else NOT_PERMITTED
        self.refused.update({email: reason for email in emails - found.keys()})

    def problems(self, people: dict[str, Named], column: str | None) -> list[dict[str, Any]]:
        """Return one problem per refused email, in the order the file first names them."""
        return [
            {
                "line": named.line,
                "field": column,
                "message": f"{email}: {MESSAGES[self.refused[email]]} ({named.rows} rows)",
            }
            for email, named in people.items()
            if email in self.refused
        ]

    def skipped(self, people: dict[str, Named]) -> list[dict[str, Any]]:
        """Return the refused emails with their reason, rows and first line."""
        return [
            {"email": email, "reason": self.refused[email], "rows": named.rows, "line": named.line}
            for email, named in people.items()
            if email in self.refused
        ]


def on_this_thread(query: Callable[[], T]) -> T:
    """Run QUERY on this thread's connection, or on one of its own for just this query.

    The import reads its file (and so looks people up) in a read-ahead thread while the
    writing thread holds the transaction; a look-up there borrows a pooled connection
    and gives it back at once.
    """
    opened = db.connect(reuse_if_open=True)
    try:
        return query()
    finally:
        if opened:
            db.close()
