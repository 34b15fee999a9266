"""Whose entries a request covers, for the entries and reports blueprints.

The acting user (the caller, or `?user_id=`) is settled before the view runs, as
require_auth does for one user's routes; a read that names people with `user=`, `team=`
or `all=true` is instead checked by the view against what the caller may see.
"""

from __future__ import annotations

from flask import Blueprint
from flask import request

from service import entries
from service.entries import Owners
from service.permissions import ENTRIES_ANY_USER
from service.permissions import visible_user_ids
from service.schemas.requests import WHOSE
from service.schemas.requests import EntryFilters
from service.security import SAFE_METHODS
from service.security import current_principal
from service.security import current_user_id

# The parameters that name people instead of the acting user.
ORG_WIDE = frozenset(WHOSE) - {"user_id"}


def settle_acting_user(blueprint: Blueprint) -> None:
    """Make BLUEPRINT settle the acting user before its views run, but for org-wide reads.

    Register it after require_auth(..., acting_user=False).
    """

    def settle() -> None:
        if request.method == "OPTIONS":
            return
        if request.method in SAFE_METHODS and not ORG_WIDE.isdisjoint(request.args):
            return
        current_user_id()

    blueprint.before_request(settle)


def owners(filters: EntryFilters, service_scope: str = ENTRIES_ANY_USER) -> Owners:
    """Return whose entries FILTERS cover: the people they name, else the acting user."""
    if filters.org_wide:
        return entries.whose(current_principal(), filters, service_scope)
    return current_user_id()


def item_owners() -> Owners:
    """Return among whose entries one entry is looked up: `?user_id=`'s (required of
    services), else everyone's the caller may see."""
    principal = current_principal()
    if principal.is_service or "user_id" in request.args:
        return current_user_id()
    return visible_user_ids(principal)
