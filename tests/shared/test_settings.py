"""shared.settings.required: a missing or blank variable is an error naming it."""

from __future__ import annotations

import pytest

from shared.errors import InvalidInputError
from shared.settings import required


def test_the_value_is_returned_without_surrounding_blanks() -> None:
    assert required({"OUTPUT_BUCKET": " outputs "}, "OUTPUT_BUCKET") == "outputs"


@pytest.mark.parametrize("environ", [{}, {"OUTPUT_BUCKET": ""}, {"OUTPUT_BUCKET": "  "}])
def test_missing_or_blank_names_the_variable(environ: dict[str, str]) -> None:
    with pytest.raises(InvalidInputError) as raised:
        required(environ, "OUTPUT_BUCKET")
    assert raised.value.field == "OUTPUT_BUCKET"
    assert str(raised.value) == "OUTPUT_BUCKET: is required"


def test_the_condition_that_makes_it_required_is_said() -> None:
    with pytest.raises(
        InvalidInputError, match="PRIMARY_REGION: is required when MULTI_REGION_ENABLED is true"
    ):
        required({}, "PRIMARY_REGION", when="MULTI_REGION_ENABLED is true")
