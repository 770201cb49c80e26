"""The journal's round trip: write, open as staff, reply, answer, and what the learner sees."""

from __future__ import annotations

from tests.journals.conftest import text, view_rows, write_entry


def test_round_trip(app, cast, client_for):
    ada = client_for(cast.author)
    page = ada.get("/journal/c/allyship/noticing/new")
    assert page.status_code == 200
    assert "who reads your journal" in text(page)
    entry_id = write_entry(ada, "The quiet meeting again.")
    own = ada.get(f"/journal/entries/{entry_id}")
    assert own.status_code == 200
    assert "The quiet meeting again." in text(own)
    assert "Waiting to be read" in text(own)

    fay = client_for(cast.facilitator)
    gate = fay.get(f"/journal/entries/{entry_id}")
    assert gate.status_code == 200 and "The quiet meeting again." not in text(gate)
    opened = fay.post(f"/journal/entries/{entry_id}/open")
    assert opened.status_code == 200 and "The quiet meeting again." in text(opened)
    assert view_rows(app, entry_id) == 1
    replied = fay.post(f"/journal/entries/{entry_id}/replies", data={"body": "Thank you, Ada."})
    assert replied.status_code == 303

    own = text(ada.get(f"/journal/entries/{entry_id}"))
    assert "Thank you, Ada." in own
    assert "A facilitator replied" in own
    assert "Fay Facilitator (facilitator)" in own
    listing = text(ada.get("/journal"))
    assert "Thank you, Ada." in listing and "The quiet meeting again." in listing
