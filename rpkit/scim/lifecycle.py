"""What Dualog should hold for one roster row, and how that differs from what it holds.

Pure functions used by ``sync``: :func:`desired_user` builds the target user on top of the
current one (so nothing the roster does not speak about is lost), :func:`diff_users` lists
the managed attributes that differ, :func:`classify_changes` names the lifecycle step.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from ..errors import ValidationError
from ..ranks import DEFAULT_RANKS, RankVocabulary, normalize_rank
from .models import CrewExtension, Email, GroupRef, PhoneNumber, User
from .roster import RosterRow

__all__ = [
    "DEPARTURE_POLICIES",
    "Action",
    "Change",
    "DeparturePolicy",
    "SyncOptions",
    "classify_changes",
    "desired_user",
    "diff_users",
    "same_rank",
    "wanted_rank",
]

Action = Literal["create", "update", "transfer", "sign_off", "departure", "invalid"]
DeparturePolicy = Literal["disable", "delete", "keep"]
DEPARTURE_POLICIES: tuple[DeparturePolicy, ...] = ("disable", "delete", "keep")


@dataclass(frozen=True, kw_only=True, slots=True)
class SyncOptions:
    """How the sync treats what the roster does not say.

    ``departure_policy``: what happens to Dualog users absent from the roster (the CMS
    guide's per-integration choice). Only users with an ``externalId`` are considered
    CMS-managed unless ``manage_users_without_external_id`` is set, so office staff created
    by hand are never disabled by a crew export. ``default_groups`` are given to new users.

    ``max_departures``: the most departures an apply may carry out (None: 10 % of the
    CMS-managed users, at least 5), because a partial export looks like a mass departure.
    ``allow_email_change``: a row whose email differs (beyond case) from its user's
    ``userName`` may change it; the email is the login, so by default the row is refused.
    ``normalize_ranks``: send the canonical name of a rank ``ranks`` knows ("2/O" ->
    "Second Officer"). Either way, an alias of the rank Dualog already has is no change.
    """

    departure_policy: DeparturePolicy = "disable"
    manage_users_without_external_id: bool = False
    default_groups: tuple[str, ...] = ()
    # An export with no rows at all is far likelier a broken export than a fleet that
    # lost every crew member; departing everyone takes this opt-in.
    allow_empty_roster: bool = False
    max_departures: int | None = None
    allow_email_change: bool = False
    normalize_ranks: bool = False
    ranks: RankVocabulary = field(default=DEFAULT_RANKS, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.departure_policy not in DEPARTURE_POLICIES:
            raise ValidationError(
                "departure_policy",
                f"departure policy must be one of {', '.join(DEPARTURE_POLICIES)}",
            )
        if self.max_departures is not None and self.max_departures < 0:
            raise ValidationError("max_departures", "max_departures must not be negative")

    def departure_limit(self, managed: int) -> int:
        """The most departures allowed when ``managed`` users are CMS-managed."""
        if self.max_departures is not None:
            return self.max_departures
        return max(5, managed // 10)


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One attribute that will change: SCIM name, value now, value after."""

    field: str
    old: str | None
    new: str | None


def desired_user(
    row: RosterRow, current: User | None, *, today: date, options: SyncOptions
) -> User:
    """The user Dualog should hold for ``row``, built on ``current`` so nothing else is lost.

    Empty optional cells (rank, department, personal email, phone) keep what Dualog has;
    an empty IMO number or an ended contract means signed off (no ship, no contract dates).
    """
    base = current or User(
        # Logins compare case-insensitively; one spelling keeps lookups and exports exact.
        user_name=row.email.lower(),
        given_name=row.first_name,
        family_name=row.surname,
        groups=tuple(GroupRef(value=g) for g in options.default_groups),
        # CMS guide, "Password Handling": users must change the password on first login.
        crew=CrewExtension(force_change_password=True),
    )
    crew = base.crew
    ended = row.contract_end is not None and row.contract_end < today
    if row.ship_imo is None or ended:
        crew = replace(
            crew,
            ship_imo=None,
            ship_name=None,
            contract_start_date=None,
            contract_end_date=None,
        )
    else:
        same_ship = current is not None and current.crew.ship_imo == row.ship_imo
        start = row.contract_start or today
        if start >= today:
            start_text = start.isoformat()
        elif same_ship and current is not None and current.crew.contract_start_date:
            start_text = current.crew.contract_start_date  # already on board: keep it
        else:
            start_text = today.isoformat()  # Dualog refuses a start in the past
        if row.contract_end is not None:
            end_text: str | None = row.contract_end.isoformat()
        elif same_ship and current is not None and current.crew.contract_start_date == start_text:
            end_text = current.crew.contract_end_date  # Dualog's default: start + 1 year
        else:
            end_text = None
        crew = replace(
            crew,
            ship_imo=row.ship_imo,
            # Dualog derives shipName from the IMO; keep its spelling for the same ship.
            ship_name=current.crew.ship_name if same_ship and current else row.ship_name,
            contract_start_date=start_text,
            contract_end_date=end_text,
        )
    crew = replace(
        crew,
        rank=wanted_rank(row.rank, crew.rank, options),
        department=row.department if row.department is not None else crew.department,
    )
    # The roster's spelling of an address Dualog already has (any case) is no change.
    user_name = _same_address(row.email, base.user_name) or row.email.lower()
    old_work = [e for e in base.emails if e.type == "work"]
    old_home = [e for e in base.emails if e.type == "home"]
    work = next((_same_address(row.email, e.value) for e in old_work), None)
    emails = [Email(value=work or user_name, type="work", primary=True)]
    if row.personal_email is not None:
        home = next((_same_address(row.personal_email, e.value) for e in old_home), None)
        emails.append(Email(value=home or row.personal_email, type="home", primary=False))
    else:
        emails.extend(old_home)
    emails.extend(e for e in base.emails if e.type not in ("work", "home"))
    # Dualog's displayName may be a preferred name; only a derived one follows the roster.
    derived = f"{base.given_name} {base.family_name}"
    display_name = base.display_name
    if current is None or not display_name or display_name == derived:
        display_name = f"{row.first_name} {row.surname}"
    phones = base.phone_numbers
    if row.phone is not None:
        others = tuple(p for p in phones or () if p.type != "mobile")
        phones = (PhoneNumber(value=row.phone, type="mobile"), *others)
    return replace(
        base,
        user_name=user_name,
        external_id=row.employee_id if row.employee_id is not None else base.external_id,
        given_name=row.first_name,
        family_name=row.surname,
        display_name=display_name,
        active=True,
        emails=tuple(emails),
        phone_numbers=phones,
        crew=crew,
    )


def _same_address(wanted: str, held: str | None) -> str | None:
    """``held`` when it is ``wanted`` in another case, else None."""
    return held if held is not None and held.lower() == wanted.lower() else None


def same_rank(a: str | None, b: str | None, ranks: RankVocabulary) -> bool:
    """Whether two rank texts name one rank: aliases of a known rank, or the same text
    up to case, dots and spacing."""
    if a is None or b is None:
        return a is b
    known_a, known_b = ranks.resolve(a), ranks.resolve(b)
    if known_a is not None and known_b is not None:
        return known_a.name == known_b.name
    return normalize_rank(a) == normalize_rank(b)


def wanted_rank(row_rank: str | None, held: str | None, options: SyncOptions) -> str | None:
    """The rank to send: the roster's (canonical with ``normalize_ranks``), or ``held``
    when the roster is silent or names the same rank in another spelling."""
    if row_rank is None:
        return held
    canonical = options.ranks.canonical(row_rank)
    if options.normalize_ranks and canonical is not None:
        return canonical  # Dualog's alias of the same rank is rewritten too
    return held if same_rank(row_rank, held, options.ranks) else row_rank


def _email_key(e: Email) -> tuple[str, str | None, bool]:
    return (e.value.lower(), e.type, bool(e.primary))


def diff_users(current: User, wanted: User) -> tuple[Change, ...]:
    """The attributes the sync manages that differ between ``current`` and ``wanted``."""
    pairs: list[tuple[str, str | None, str | None]] = [
        ("userName", current.user_name, wanted.user_name),
        ("externalId", current.external_id, wanted.external_id),
        ("name.givenName", current.given_name, wanted.given_name),
        ("name.familyName", current.family_name, wanted.family_name),
        # A server that returns no displayName derives it; nothing to compare then.
        (
            "displayName",
            current.display_name,
            wanted.display_name if current.display_name else None,
        ),
        ("active", str(current.active).lower(), str(wanted.active).lower()),
        ("rank", current.crew.rank, wanted.crew.rank),
        ("department", current.crew.department, wanted.crew.department),
        ("shipImo", current.crew.ship_imo, wanted.crew.ship_imo),
        ("contractStartDate", current.crew.contract_start_date, wanted.crew.contract_start_date),
        ("contractEndDate", current.crew.contract_end_date, wanted.crew.contract_end_date),
    ]
    changes = [
        Change(field=name, old=old, new=new)
        for name, old, new in pairs
        if (old.lower() if name == "userName" and old else old)
        != (new.lower() if name == "userName" and new else new)
    ]
    if sorted(map(_email_key, current.emails)) != sorted(map(_email_key, wanted.emails)):
        changes.append(
            Change(
                field="emails",
                old=", ".join(e.value for e in current.emails),
                new=", ".join(e.value for e in wanted.emails),
            )
        )
    # A server that does not return phoneNumbers does not store them: nothing to compare.
    if current.phone_numbers is not None and wanted.phone_numbers is not None:
        old_phones = sorted(p.value for p in current.phone_numbers)
        new_phones = sorted(p.value for p in wanted.phone_numbers)
        if old_phones != new_phones:
            changes.append(
                Change(field="phoneNumbers", old=", ".join(old_phones), new=", ".join(new_phones))
            )
    return tuple(changes)


def classify_changes(changes: tuple[Change, ...]) -> Action:
    """``sign_off`` when the ship goes, ``transfer`` when it changes, else ``update``."""
    imo = next((c for c in changes if c.field == "shipImo"), None)
    if imo is not None and imo.old is not None and imo.new is None:
        return "sign_off"
    if imo is not None and imo.old is not None and imo.new is not None:
        return "transfer"
    return "update"
