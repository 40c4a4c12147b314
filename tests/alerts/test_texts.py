"""What operators read: French by default, English available."""

from __future__ import annotations

from alerts.texts import duration, number, place_name, render, subject


def test_the_flood_message_of_the_issue() -> None:
    params = {"device": "Pont de la Halle", "place": "Saint-Flour", "level": "orange",
              "value": 142.0}
    assert render("flood.level", params) == (
        "Inondation — niveau orange (142 cm) au capteur « Pont de la Halle » à Saint-Flour")
    assert render("flood.level", params, "en") == (
        "Flood — orange level (142 cm) at sensor “Pont de la Halle” in Saint-Flour")


def test_numbers_and_durations_the_french_way() -> None:
    assert (number(142.5), number(142.5, "en"), number(3.0)) == ("142,5", "142.5", "3")
    assert duration(8100) == "2 h 15 min"
    assert duration(3 * 86400 + 4 * 3600) == "3 j 4 h"
    assert duration(3 * 86400, "en") == "3 d"


def test_a_commune_is_named_as_a_place() -> None:
    assert place_name("Commune de Saint-Flour") == "Saint-Flour"
    assert place_name("Commune d'Anglards-de-Saint-Flour") == "Anglards-de-Saint-Flour"
    assert place_name("Saint-Flour Communauté") == "Saint-Flour Communauté"


def test_an_unknown_key_gets_a_generic_sentence_with_its_detail() -> None:
    text = render("energy_anomaly.night", {"device": "Mairie", "place": "Murat",
                                           "detail": "consommation nocturne triplée"},
                  alert_type="energy_anomaly")
    assert text == ("Anomalie de consommation d'énergie : « Mairie » à Murat — "
                    "consommation nocturne triplée")


def test_notification_subjects_say_what_happened() -> None:
    assert subject("resolved", "X") == "Fin d'alerte — X"
    assert subject("escalated", "X", level=2) == "Relance niveau 2, non acquittée — X"
    assert subject("escalated", "X", "en", level=1) == "Escalation level 1, not acknowledged — X"
