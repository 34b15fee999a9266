"""Every JSON shape of the API: request models, response models, the body reader, cursors."""

from __future__ import annotations

from service.schemas.cursors import decode_cursor
from service.schemas.cursors import encode_cursor
from service.schemas.fields import NO_NUL
from service.schemas.fields import YEARS_PATTERN
from service.schemas.fields import Description
from service.schemas.fields import ExternalId
from service.schemas.fields import Hours
from service.schemas.fields import Password
from service.schemas.fields import Project
from service.schemas.fields import Source
from service.schemas.fields import Strict
from service.schemas.fields import Timestamp
from service.schemas.fields import TimeZone
from service.schemas.fields import time_zones
from service.schemas.fields import within_range
from service.schemas.json_body import MAX_JSON_DEPTH
from service.schemas.json_body import Model
from service.schemas.json_body import load_json
from service.schemas.json_body import parse_json_body
from service.schemas.requests import GROUP_BY_CHOICES
from service.schemas.requests import GROUPS
from service.schemas.requests import MAX_BULK_ITEMS
from service.schemas.requests import MAX_PAGE_SIZE
from service.schemas.requests import BulkEntry
from service.schemas.requests import BulkRequest
from service.schemas.requests import Credentials
from service.schemas.requests import EntryFilters
from service.schemas.requests import EntryIn
from service.schemas.requests import EntryPatch
from service.schemas.requests import EntryQuery
from service.schemas.requests import ExportQuery
from service.schemas.requests import GroupBy
from service.schemas.requests import ImportFormat
from service.schemas.requests import ImportOptions
from service.schemas.requests import ImportUpload
from service.schemas.requests import IntegrationIn
from service.schemas.requests import RefreshRequest
from service.schemas.requests import Registration
from service.schemas.requests import ReportQuery
from service.schemas.requests import Secret
from service.schemas.requests import SyncRequest
from service.schemas.requests import TempoIntegrationIn
from service.schemas.requests import TogglIntegrationIn
from service.schemas.requests import TokenRequest
from service.schemas.responses import Account
from service.schemas.responses import Alive
from service.schemas.responses import Answer
from service.schemas.responses import BulkResult
from service.schemas.responses import Entry
from service.schemas.responses import EntryList
from service.schemas.responses import EntryPage
from service.schemas.responses import FieldProblem
from service.schemas.responses import Healthy
from service.schemas.responses import ImportOutcome
from service.schemas.responses import IntegrationList
from service.schemas.responses import IntegrationOut
from service.schemas.responses import Jwk
from service.schemas.responses import JwkSet
from service.schemas.responses import OAuthProblem
from service.schemas.responses import Problem
from service.schemas.responses import Ready
from service.schemas.responses import ReportRow
from service.schemas.responses import ReportSummary
from service.schemas.responses import ReportTotal
from service.schemas.responses import ServiceToken
from service.schemas.responses import SyncCounts
from service.schemas.responses import SyncOutcome
from service.schemas.responses import SyncSourceStatus
from service.schemas.responses import SyncStatusList
from service.schemas.responses import TempoIntegrationOut
from service.schemas.responses import TogglIntegrationOut
from service.schemas.responses import TokenPair
from service.schemas.responses import Unhealthy
from service.schemas.responses import Unready
from service.schemas.responses import dump

__all__ = [
    "GROUPS",
    "GROUP_BY_CHOICES",
    "MAX_BULK_ITEMS",
    "MAX_JSON_DEPTH",
    "MAX_PAGE_SIZE",
    "NO_NUL",
    "YEARS_PATTERN",
    "Account",
    "Alive",
    "Answer",
    "BulkEntry",
    "BulkRequest",
    "BulkResult",
    "Credentials",
    "Description",
    "Entry",
    "EntryFilters",
    "EntryIn",
    "EntryList",
    "EntryPage",
    "EntryPatch",
    "EntryQuery",
    "ExportQuery",
    "ExternalId",
    "FieldProblem",
    "GroupBy",
    "Healthy",
    "Hours",
    "ImportFormat",
    "ImportOptions",
    "ImportOutcome",
    "ImportUpload",
    "IntegrationIn",
    "IntegrationList",
    "IntegrationOut",
    "Jwk",
    "JwkSet",
    "Model",
    "OAuthProblem",
    "Password",
    "Problem",
    "Project",
    "Ready",
    "RefreshRequest",
    "Registration",
    "ReportQuery",
    "ReportRow",
    "ReportSummary",
    "ReportTotal",
    "Secret",
    "ServiceToken",
    "Source",
    "Strict",
    "SyncCounts",
    "SyncOutcome",
    "SyncRequest",
    "SyncSourceStatus",
    "SyncStatusList",
    "TempoIntegrationIn",
    "TempoIntegrationOut",
    "TimeZone",
    "Timestamp",
    "TogglIntegrationIn",
    "TogglIntegrationOut",
    "TokenPair",
    "TokenRequest",
    "Unhealthy",
    "Unready",
    "decode_cursor",
    "dump",
    "encode_cursor",
    "load_json",
    "parse_json_body",
    "time_zones",
    "within_range",
]
