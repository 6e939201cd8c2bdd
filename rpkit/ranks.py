"""Maritime rank vocabulary and rank-based access rules (pure; no web framework).

Dualog's ``rank`` claim is free text typed by a crew manager: "Chief Officer", "C/O" and
"Chief Mate" are the same job. :class:`RankVocabulary` resolves every alias to one
canonical :class:`Rank`, which belongs to a department (``deck``, ``engine``,
``catering``) and to named groups (``deck_officers``, ``engine_officers``, ``officers``,
``ratings``, ``management_level``...). Access rules name ranks, departments or groups::

    ranks = DEFAULT_RANKS
    ranks.allows("C/O", "deck_officers")              # True
    ranks.allows("AB", "deck_officers")               # False
    ranks.allows("Bosun", "deck")                     # True (a department)
    ship = ranks.extend([Rank("Dynamic Positioning Operator", "deck", ("DPO",),
                              groups=("deck_officers",))])

An unknown or missing rank matches nothing: access rules fail closed.

Owns: the maritime rank vocabulary and the rank rules.
Must not import: a protocol or a web framework (floor 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_RANKS",
    "DEPARTMENTS",
    "Rank",
    "RankVocabulary",
    "normalize_rank",
]

DEPARTMENTS = ("deck", "engine", "catering")
"""The departments of the default rank vocabulary."""

_SPACES = re.compile(r"\s+")
_DROP = re.compile(r"[.\u2019'`]")


def normalize_rank(text: str) -> str:
    """Fold case, dots, apostrophes and spacing: ``" c.o. "`` and ``"C/O"`` compare alike."""
    folded = _DROP.sub("", text.casefold())
    folded = folded.replace("-", " ").replace("_", " ")
    folded = re.sub(r"\s*/\s*", "/", folded)
    return _SPACES.sub(" ", folded).strip()


@dataclass(frozen=True, slots=True)
class Rank:
    """One job on board: its canonical ``name``, ``department``, ``aliases`` and ``groups``."""

    name: str
    department: str
    aliases: tuple[str, ...] = ()
    groups: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigurationError("a rank needs a name")
        if not self.department.strip():
            raise ConfigurationError(f"rank {self.name!r} needs a department")


def _rank(name: str, department: str, *aliases: str, groups: tuple[str, ...] = ()) -> Rank:
    return Rank(name, department, tuple(aliases), groups)


_OFFICER_DECK = ("deck_officers", "officers")
_OFFICER_ENGINE = ("engine_officers", "officers")
_MGMT = ("management_level",)

_DEFAULT: tuple[Rank, ...] = (
    _rank(
        "Master", "deck", "Captain", "Capt", "Skipper", "Ship Master", groups=_OFFICER_DECK + _MGMT
    ),
    _rank(
        "Chief Officer",
        "deck",
        "C/O",
        "CO",
        "Chief Mate",
        "First Officer",
        "First Mate",
        "1/O",
        "1st Officer",
        "1st Mate",
        groups=_OFFICER_DECK + _MGMT,
    ),
    _rank(
        "Second Officer",
        "deck",
        "2/O",
        "2O",
        "2nd Officer",
        "Second Mate",
        "2nd Mate",
        groups=_OFFICER_DECK,
    ),
    _rank(
        "Third Officer",
        "deck",
        "3/O",
        "3O",
        "3rd Officer",
        "Third Mate",
        "3rd Mate",
        groups=_OFFICER_DECK,
    ),
    _rank("Deck Cadet", "deck", "Cadet", "D/C", "Deck Trainee", groups=("deck_ratings", "cadets")),
    _rank("Bosun", "deck", "Boatswain", "Bos'n", "Bosn", groups=("deck_ratings", "ratings")),
    _rank(
        "Able Seaman", "deck", "AB", "A/B", "Able Bodied Seaman", groups=("deck_ratings", "ratings")
    ),
    _rank("Ordinary Seaman", "deck", "OS", "O/S", groups=("deck_ratings", "ratings")),
    _rank(
        "Chief Engineer",
        "engine",
        "C/E",
        "CE",
        "Chief Eng",
        "Chief Engineer Officer",
        groups=_OFFICER_ENGINE + _MGMT,
    ),
    _rank(
        "Second Engineer",
        "engine",
        "2/E",
        "2E",
        "2nd Engineer",
        "First Assistant Engineer",
        groups=_OFFICER_ENGINE + _MGMT,
    ),
    _rank("Third Engineer", "engine", "3/E", "3E", "3rd Engineer", groups=_OFFICER_ENGINE),
    _rank("Fourth Engineer", "engine", "4/E", "4E", "4th Engineer", groups=_OFFICER_ENGINE),
    _rank(
        "Electro-Technical Officer",
        "engine",
        "ETO",
        "Electrical Officer",
        "Electrician",
        "Electro Technical Officer",
        groups=_OFFICER_ENGINE,
    ),
    _rank("Engine Cadet", "engine", "E/C", "Engine Trainee", groups=("engine_ratings", "cadets")),
    _rank("Fitter", "engine", groups=("engine_ratings", "ratings")),
    _rank("Motorman", "engine", "Oiler", groups=("engine_ratings", "ratings")),
    _rank("Wiper", "engine", groups=("engine_ratings", "ratings")),
    _rank("Chief Cook", "catering", "Ch/Ck", "Chief Steward", groups=("catering", "ratings")),
    _rank("Cook", "catering", "2nd Cook", "Second Cook", groups=("catering", "ratings")),
    _rank(
        "Steward", "catering", "Messman", "Mess Boy", "Galley Hand", groups=("catering", "ratings")
    ),
)


class RankVocabulary:
    """Ranks by alias, with departments and groups; immutable, extend with :meth:`extend`.

    Raises ``ConfigurationError`` when two ranks claim the same name or alias.
    """

    def __init__(self, ranks: Iterable[Rank]) -> None:
        self._ranks: tuple[Rank, ...] = tuple(ranks)
        lookup: dict[str, Rank] = {}
        for rank in self._ranks:
            for label in (rank.name, *rank.aliases):
                key = normalize_rank(label)
                other = lookup.get(key)
                if other is not None and other.name != rank.name:
                    raise ConfigurationError(
                        f"rank label {label!r} is claimed by {other.name!r} and {rank.name!r}"
                    )
                lookup[key] = rank
        self._lookup: Mapping[str, Rank] = lookup
        groups: dict[str, set[str]] = {}
        for rank in self._ranks:
            for group in (*rank.groups, normalize_rank(rank.department)):
                groups.setdefault(normalize_rank(group).replace(" ", "_"), set()).add(rank.name)
        self._groups: Mapping[str, frozenset[str]] = {k: frozenset(v) for k, v in groups.items()}

    @property
    def ranks(self) -> tuple[Rank, ...]:
        return self._ranks

    @property
    def groups(self) -> Mapping[str, frozenset[str]]:
        """Group and department names to the canonical rank names in them."""
        return self._groups

    def resolve(self, text: str | None) -> Rank | None:
        """The rank ``text`` names (any alias, any case), or None if unknown."""
        if not text:
            return None
        return self._lookup.get(normalize_rank(text))

    def canonical(self, text: str | None) -> str | None:
        """The canonical name of ``text`` ("C/O" -> "Chief Officer"), or None if unknown."""
        rank = self.resolve(text)
        return rank.name if rank else None

    def members(self, rule: str) -> frozenset[str]:
        """Canonical rank names matched by ``rule``: a group, a department or a rank.

        Raises ``ConfigurationError`` for a rule that names nothing known: a typo in an access
        rule must fail at definition time, not deny (or allow) silently.
        """
        group = self._groups.get(normalize_rank(rule).replace(" ", "_"))
        if group is not None:
            return group
        rank = self.resolve(rule)
        if rank is not None:
            return frozenset({rank.name})
        raise ConfigurationError(f"access rule {rule!r} names no known rank, department or group")

    def allows(self, rank_text: str | None, *rules: str) -> bool:
        """Whether a crew member of rank ``rank_text`` matches any of ``rules``."""
        allowed: set[str] = set()
        for rule in rules:
            allowed |= self.members(rule)
        rank = self.resolve(rank_text)
        return rank is not None and rank.name in allowed

    def extend(
        self, ranks: Iterable[Rank] = (), *, groups: Mapping[str, Iterable[str]] | None = None
    ) -> RankVocabulary:
        """A new vocabulary with extra ranks and extra group memberships.

        ``ranks`` with the name of an existing rank replace it (to add aliases); ``groups``
        maps a group name to ranks (any alias) that join it.
        """
        by_name = {r.name: r for r in self._ranks}
        for rank in ranks:
            by_name[rank.name] = rank
        vocabulary = RankVocabulary(by_name.values())
        if groups:
            updated = dict(by_name)
            for group, names in groups.items():
                for label in names:
                    found = vocabulary.resolve(label)
                    if found is None:
                        raise ConfigurationError(f"group {group!r} lists unknown rank {label!r}")
                    current = updated[found.name]
                    if group not in current.groups:
                        updated[found.name] = Rank(
                            current.name,
                            current.department,
                            current.aliases,
                            (*current.groups, group),
                        )
            vocabulary = RankVocabulary(updated.values())
        return vocabulary


DEFAULT_RANKS = RankVocabulary(_DEFAULT)
"""The built-in maritime rank vocabulary (ranks and aliases); Flask's default ``ranks``."""
