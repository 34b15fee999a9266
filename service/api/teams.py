"""Teams (`/api/teams`): users:read to read, users:write to change; services only read."""

from __future__ import annotations

import uuid

from flask import Blueprint
from flask import jsonify
from flask import url_for

from service import teams
from service.db import use_database
from service.openapi import documented
from service.permissions import USERS_READ
from service.permissions import USERS_WRITE
from service.schemas.json_body import parse_json_body
from service.schemas.requests import TeamIn
from service.schemas.responses import TeamDetail
from service.schemas.responses import TeamList
from service.schemas.responses import TeamSummary
from service.schemas.responses import dump
from service.security import current_principal
from service.security import require_auth

bp = Blueprint("teams", __name__, url_prefix="/api/teams")
require_auth(bp, read=USERS_READ, write=USERS_WRITE, acting_user=False)
use_database(bp)


@bp.get("")
@documented({200: TeamList})
def list_teams():
    """List the teams the caller may see (admins: all; managers: the teams they manage)."""
    return jsonify(dump(TeamList, {"items": teams.list_teams(current_principal())}))


@bp.post("")
@documented({201: TeamSummary}, body=TeamIn, errors=(409,))
def create_team():
    """Create a team (admins)."""
    teams.require_admin(current_principal())
    team = teams.create_team(parse_json_body(TeamIn).name)
    response = jsonify(dump(TeamSummary, team))
    response.headers["Location"] = url_for(".get_team", team_id=team.id)
    return response, 201


@bp.get("/<uuid:team_id>")
@documented({200: TeamDetail})
def get_team(team_id: uuid.UUID):
    """Return a team the caller may see, and its people."""
    team = teams.get_team(current_principal(), team_id)
    return jsonify(dump(TeamDetail, teams.team_detail(team)))


@bp.patch("/<uuid:team_id>")
@documented({200: TeamSummary}, body=TeamIn, errors=(409,))
def rename_team(team_id: uuid.UUID):
    """Rename a team (admins)."""
    teams.require_admin(current_principal())
    name = parse_json_body(TeamIn).name
    return jsonify(dump(TeamSummary, teams.rename_team(team_id, name)))


@bp.delete("/<uuid:team_id>")
@documented({204: None})
def delete_team(team_id: uuid.UUID):
    """Delete a team (admins); its people and their entries stay."""
    teams.require_admin(current_principal())
    teams.delete_team(team_id)
    return "", 204


@bp.put("/<uuid:team_id>/members/<uuid:user_id>")
@documented({204: None})
def add_member(team_id: uuid.UUID, user_id: uuid.UUID):
    """Put a person in the team (admins, and its managers for people they see already)."""
    teams.add_member(current_principal(), team_id, user_id)
    return "", 204


@bp.delete("/<uuid:team_id>/members/<uuid:user_id>")
@documented({204: None})
def remove_member(team_id: uuid.UUID, user_id: uuid.UUID):
    """Take a person out of the team (admins, and its managers for its plain members)."""
    teams.remove_member(current_principal(), team_id, user_id)
    return "", 204


@bp.put("/<uuid:team_id>/managers/<uuid:user_id>")
@documented({204: None}, errors=(422,))
def add_manager(team_id: uuid.UUID, user_id: uuid.UUID):
    """Make a manager or admin one of the team's managers, adding them to it (admins)."""
    teams.require_admin(current_principal())
    teams.set_manager(team_id, user_id, is_manager=True)
    return "", 204


@bp.delete("/<uuid:team_id>/managers/<uuid:user_id>")
@documented({204: None})
def remove_manager(team_id: uuid.UUID, user_id: uuid.UUID):
    """Make one of the team's managers a plain member of it (admins)."""
    teams.require_admin(current_principal())
    teams.set_manager(team_id, user_id, is_manager=False)
    return "", 204
