"""SCIM client for Dualog's User API and a crew-roster sync from a CMS export.

Re-exports only; see ``client``, ``models``, ``validation``, ``filters``, ``roster`` and
``sync``.

Owns: the client of Dualog's User API, the roster reader and the crew sync.
Must not import: ``rpkit.oidc`` (its tokens come through ``rpkit.oauth``), ``rpkit.saml``, a
web layer, the sandbox or ``rpkit.testing`` (floor 3).
"""

from __future__ import annotations

from .client import ScimClient
from .config import DUALOG_SCIM_BASE_URL, DUALOG_SCIM_TOKEN_URL, ScimConfig
from .filters import Filter, quote_filter_value
from .models import (
    CREW_EXTENSION_URN,
    CrewExtension,
    Email,
    Group,
    GroupMember,
    GroupRef,
    Meta,
    PhoneNumber,
    User,
    UserField,
)
from .roster import Roster, RosterColumns, RosterRow, parse_roster, read_roster
from .sync import (
    PlannedAction,
    RowFailure,
    SyncOptions,
    SyncPlan,
    SyncReport,
    apply_plan,
    plan_sync,
    sync_roster,
)
from .validation import (
    ValidationWarning,
    is_valid_imo,
    user_warnings,
    validate_imo,
    validate_user,
)

__all__ = [
    "CREW_EXTENSION_URN",
    "DUALOG_SCIM_BASE_URL",
    "DUALOG_SCIM_TOKEN_URL",
    "CrewExtension",
    "Email",
    "Filter",
    "Group",
    "GroupMember",
    "GroupRef",
    "Meta",
    "PhoneNumber",
    "PlannedAction",
    "Roster",
    "RosterColumns",
    "RosterRow",
    "RowFailure",
    "ScimClient",
    "ScimConfig",
    "SyncOptions",
    "SyncPlan",
    "SyncReport",
    "User",
    "UserField",
    "ValidationWarning",
    "apply_plan",
    "is_valid_imo",
    "parse_roster",
    "plan_sync",
    "quote_filter_value",
    "read_roster",
    "sync_roster",
    "user_warnings",
    "validate_imo",
    "validate_user",
]
