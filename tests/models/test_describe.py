import json

import pytest

from reportgen import models
from reportgen.models import ModelCard, describe


def test_card_round_trips_through_json_and_is_read_from_the_cache(cache, tiny_card, monkeypatch):
    assert ModelCard.from_json(tiny_card.to_json()) == tiny_card
    monkeypatch.setattr(describe, "_build_card", lambda *a: pytest.fail("the cached card must be used"))
    assert models.card_for("tiny", "pretrained", cache) == tiny_card


def test_cards_are_stored_whole_beside_the_cache_entries(cache, tiny_card):
    (stored,) = cache.card_file("any").parent.iterdir()
    assert stored.name.startswith("card-tiny-pretrained-") and stored.suffix == ".json"
    assert ModelCard.from_json(json.loads(stored.read_text())) == tiny_card
