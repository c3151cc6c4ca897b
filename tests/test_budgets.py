"""Budget parsing: numbers and k/255 strings, strictly ascending, clear errors."""

import pytest

from medrobust.attacks.budgets import as_255, parse_budget, parse_budgets
from medrobust.errors import ConfigError


def test_fraction_and_number_forms() -> None:
    assert parse_budget("2/255").value == pytest.approx(2 / 255)
    assert parse_budget("2/255").label == "2/255"
    assert parse_budget("0.5/255").value == pytest.approx(0.5 / 255)
    assert parse_budget(0.5).value == 0.5
    assert parse_budget(2 / 255).label == "2/255"
    assert parse_budget(0).label == "0"


@pytest.mark.parametrize("bad", ["abc", "1/0", "1/2/3", -0.1, float("nan"), True, None])
def test_bad_budgets_are_rejected(bad: object) -> None:
    with pytest.raises(ConfigError):
        parse_budget(bad)  # type: ignore[arg-type]


def test_list_must_ascend_strictly() -> None:
    assert [b.label for b in parse_budgets([0, "1/255", "2/255"])] == ["0", "1/255", "2/255"]
    with pytest.raises(ConfigError, match="ascending"):
        parse_budgets(["2/255", "1/255"])
    with pytest.raises(ConfigError, match="ascending"):
        parse_budgets([0.1, 0.1])
    with pytest.raises(ConfigError, match="empty"):
        parse_budgets([])


def test_as_255_only_for_unit_range() -> None:
    assert as_255(4 / 255) == "4/255"
    assert as_255(100.0, (-1024, 3071)) == ""
