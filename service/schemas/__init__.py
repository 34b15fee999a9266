"""Every JSON shape of the API: request and response models, the body reader, cursors.

Import them from here; each lives in the module named for its kind.
"""

from __future__ import annotations

from service.schemas.cursors import decode_cursor as decode_cursor
from service.schemas.cursors import encode_cursor as encode_cursor
from service.schemas.fields import Strict as Strict
from service.schemas.json_body import load_json as load_json
from service.schemas.json_body import parse_json_body as parse_json_body
from service.schemas.requests import BulkEntry as BulkEntry
from service.schemas.requests import BulkRequest as BulkRequest
from service.schemas.requests import Credentials as Credentials
from service.schemas.requests import EntryFilters as EntryFilters
from service.schemas.requests import EntryIn as EntryIn
from service.schemas.requests import EntryPatch as EntryPatch
from service.schemas.requests import EntryQuery as EntryQuery
from service.schemas.requests import ExportQuery as ExportQuery
from service.schemas.requests import ImportOptions as ImportOptions
from service.schemas.requests import ImportUpload as ImportUpload
from service.schemas.requests import IntegrationIn as IntegrationIn
from service.schemas.requests import RefreshRequest as RefreshRequest
from service.schemas.requests import Registration as Registration
from service.schemas.requests import ReportQuery as ReportQuery
from service.schemas.requests import SyncRequest as SyncRequest
from service.schemas.requests import TempoIntegrationIn as TempoIntegrationIn
from service.schemas.requests import TogglIntegrationIn as TogglIntegrationIn
from service.schemas.requests import TokenRequest as TokenRequest
from service.schemas.responses import Account as Account
from service.schemas.responses import Alive as Alive
from service.schemas.responses import BulkResult as BulkResult
from service.schemas.responses import Entry as Entry
from service.schemas.responses import EntryList as EntryList
from service.schemas.responses import EntryPage as EntryPage
from service.schemas.responses import Healthy as Healthy
from service.schemas.responses import ImportOutcome as ImportOutcome
from service.schemas.responses import IntegrationList as IntegrationList
from service.schemas.responses import IntegrationOut as IntegrationOut
from service.schemas.responses import JwkSet as JwkSet
from service.schemas.responses import OAuthProblem as OAuthProblem
from service.schemas.responses import Problem as Problem
from service.schemas.responses import Ready as Ready
from service.schemas.responses import ReportSummary as ReportSummary
from service.schemas.responses import ServiceToken as ServiceToken
from service.schemas.responses import SyncOutcome as SyncOutcome
from service.schemas.responses import SyncStatusList as SyncStatusList
from service.schemas.responses import TokenPair as TokenPair
from service.schemas.responses import Unhealthy as Unhealthy
from service.schemas.responses import Unready as Unready
from service.schemas.responses import dump as dump
