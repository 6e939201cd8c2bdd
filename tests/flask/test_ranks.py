"""Maritime rank vocabulary: aliases, departments, groups, extension, fail-closed rules."""

from __future__ import annotations

import pytest

from rpkit.errors import ConfigurationError
from rpkit.ranks import DEFAULT_RANKS, Rank, normalize_rank

ALIASES = [
    ("C/O", "Chief Officer"),
    ("c.o.", "Chief Officer"),
    ("Chief Mate", "Chief Officer"),
    ("chief  officer", "Chief Officer"),
    ("Master", "Master"),
    ("Captain", "Master"),
    ("2/O", "Second Officer"),
    ("2nd Mate", "Second Officer"),
    ("3/O", "Third Officer"),
    ("AB", "Able Seaman"),
    ("Able Seaman", "Able Seaman"),
    ("C/E", "Chief Engineer"),
    ("2/E", "Second Engineer"),
    ("ETO", "Electro-Technical Officer"),
    ("Bosun", "Bosun"),
    ("Boatswain", "Bosun"),
    ("Cook", "Cook"),
]


@pytest.mark.parametrize(("text", "canonical"), ALIASES, ids=[a for a, _ in ALIASES])
def test_aliases_resolve_to_one_rank(text: str, canonical: str) -> None:
    """Every spelling of a rank resolves to its canonical name."""
    assert DEFAULT_RANKS.canonical(text) == canonical


def test_departments_and_groups() -> None:
    """Ranks belong to a department and to groups such as deck_officers."""
    ranks = DEFAULT_RANKS
    assert ranks.resolve("C/O").department == "deck"  # type: ignore[union-attr]
    assert ranks.resolve("ETO").department == "engine"  # type: ignore[union-attr]
    assert ranks.resolve("Cook").department == "catering"  # type: ignore[union-attr]
    assert ranks.allows("Chief Mate", "deck_officers")
    assert ranks.allows("Master", "deck_officers")
    assert not ranks.allows("AB", "deck_officers")
    assert ranks.allows("AB", "deck")
    assert not ranks.allows("C/E", "deck_officers")
    assert ranks.allows("C/E", "engine_officers", "deck_officers")
    assert ranks.allows("2/E", "management_level")
    assert ranks.allows("C/O", "Chief Officer")  # a rank as the rule, in another spelling


@pytest.mark.parametrize("rank", [None, "", "Pirate King", "deck_officers"])
def test_unknown_rank_is_refused(rank: str | None) -> None:
    """An unknown or missing rank matches no rule."""
    assert not DEFAULT_RANKS.allows(rank, "deck_officers", "deck", "engine", "catering")


def test_unknown_rule_raises() -> None:
    """A typo in an access rule fails loudly instead of denying or allowing silently."""
    with pytest.raises(ConfigurationError, match="deck_oficers"):
        DEFAULT_RANKS.allows("Master", "deck_oficers")


def test_extend_with_app_ranks_and_groups() -> None:
    """Apps add ranks, aliases and group members without changing the default vocabulary."""
    extended = DEFAULT_RANKS.extend(
        [Rank("Dynamic Positioning Operator", "deck", ("DPO",), ("deck_officers",))],
        groups={"watchkeepers": ["2/O", "3/O", "AB"]},
    )
    assert extended.allows("DPO", "deck_officers")
    assert extended.allows("AB", "watchkeepers")
    assert not extended.allows("Master", "watchkeepers")
    assert DEFAULT_RANKS.resolve("DPO") is None
    with pytest.raises(ConfigurationError):
        DEFAULT_RANKS.extend([Rank("Mate", "deck", ("C/O",))])


def test_normalize() -> None:
    """Case, dots, hyphens and spaces around slashes do not matter."""
    assert normalize_rank(" C / O ") == normalize_rank("c/o")
    assert normalize_rank("Electro-Technical Officer") == "electro technical officer"


@pytest.mark.parametrize(("name", "department"), [("", "deck"), ("Bosun", " ")])
def test_a_rank_without_name_or_department_is_a_configuration_error(
    name: str, department: str
) -> None:
    """Building a vocabulary is configuration: its mistakes are ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Rank(name, department)
