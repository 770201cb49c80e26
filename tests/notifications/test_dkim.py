"""Optional DKIM signing in the worker, verified over the exact bytes an SMTP server got.

A fresh RSA key is made for each test with ``openssl``; the public half is served to
``dkim.verify`` as the TXT record an operator would publish.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from pathlib import Path

import dkim
import pytest

from forum.extensions import db
from notifications import services
from notifications.dkim import SIGNED_HEADERS, DKIMConfigError, dns_record, signer_from_config
from notifications.models import OutboxStatus
from tests.notifications.helpers import add_person, outbox, work
from tests.notifications.test_deliverability import MAX_SCORE, spam_verdict, spamassassin

SELECTOR = "hearth2026"
DOMAIN = "reflect.example.org"


def make_key(folder: Path, name: str = "dkim.pem") -> tuple[Path, str]:
    """A 2048-bit RSA key in PEM, and the TXT record that publishes its public half."""
    if shutil.which("openssl") is None:
        message = "openssl is needed to make a DKIM key for the test"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must really sign and verify
        pytest.skip(message)
    path = folder / name
    subprocess.run(
        ["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
    )
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return path, dns_record(public)


class DNS:
    """Answers TXT look-ups for <selector>._domainkey.<domain> only, and counts them."""

    def __init__(self, record: str):
        self.record = record.encode()
        self.asked: list[bytes] = []

    def __call__(self, name: bytes, timeout: int = 5) -> bytes | None:
        self.asked.append(name)
        if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode():
            return self.record
        return None


@pytest.fixture
def dkim_key(tmp_path) -> tuple[Path, str]:
    return make_key(tmp_path)


@pytest.fixture
def app_config(smtp_sink, dkim_key):
    return {
        "NOTIFICATIONS_EDIT_WINDOW": 0,
        "NOTIFICATIONS_DIGEST_HOUR": None,
        "NOTIFICATIONS_TRANSPORT": "smtp",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_sink.port,
        "MAIL_TIMEOUT": 5,
        "BASE_URL": f"https://{DOMAIN}",
        "MAIL_DEFAULT_SENDER": f"Reflect <no-reply@{DOMAIN}>",
        "DKIM_SELECTOR": SELECTOR,
        "DKIM_DOMAIN": DOMAIN,
        "DKIM_PRIVATE_KEY_PATH": str(dkim_key[0]),
    }


def _queue_two(app, course) -> None:
    """A discussion email (List-Id, List-Unsubscribe) and an account email."""
    with app.app_context():
        bea = add_person("bea@example.com", "Bea")
        services.queue_email(
            bea,
            "New reflection in “A first memory”",
            "Dee posted a new reflection.",
            dedupe_key="dkim:discussion",
            unsubscribe_scope=("thread", course.prompt_id),
        )
        services.queue_account_email(
            "noor@example.com",
            "account_password_changed",
            "Your Hearth password was changed",
            dedupe_key="dkim:account",
        )
        db.session.commit()


def test_the_worker_signs_what_it_sends_and_the_signature_verifies(
    app, course, smtp_sink, dkim_key
):
    _queue_two(app, course)
    work(app)
    dns = DNS(dkim_key[1])
    for address in ("bea@example.com", "noor@example.com"):
        [got] = smtp_sink.to(address)
        assert got.raw.startswith(b"DKIM-Signature: ")
        assert dkim.verify(got.raw, dnsfunc=dns), address
        signature = dkim.DKIM(got.raw)
        sig, include_headers, _ = signature.verify_headerprep()
        assert sig[b"d"] == DOMAIN.encode() and sig[b"s"] == SELECTOR.encode()
        assert sig[b"c"] == b"relaxed/relaxed"
        assert set(include_headers) == {name.lower().encode() for name in SIGNED_HEADERS}
        # Changing what the reader sees, or the unsubscribe target, breaks the signature.
        tampered = got.raw.replace(b"Subject: ", b"Subject: Re: ", 1)
        assert not dkim.verify(tampered, dnsfunc=dns)
    [discussion] = smtp_sink.to("bea@example.com")
    assert b"\r\nList-Id: " in discussion.raw and b"\r\nList-Unsubscribe: " in discussion.raw
    unsubscribe_moved = discussion.raw.replace(b"/u/", b"/x/", 1)
    assert not dkim.verify(unsubscribe_moved, dnsfunc=dns)
    assert dns.asked and all(name == dns.asked[0] for name in dns.asked)
    # The outbox keeps the unsigned bytes: a retry is signed afresh, with the current key.
    for row in outbox(app):
        assert row.status == OutboxStatus.SENT
        assert row.raw_message is not None and b"DKIM-Signature" not in row.raw_message


def test_a_signed_message_still_scores_at_most_zero(app, course, smtp_sink, tmp_path):
    command = spamassassin()
    _queue_two(app, course)
    work(app)
    for address in ("bea@example.com", "noor@example.com"):
        [got] = smtp_sink.to(address)
        verdict = spam_verdict(command, got.raw, tmp_path)
        print(f"\nDKIM-signed mail to {address}: {verdict}")
        assert verdict.score <= MAX_SCORE, verdict


def test_a_rotated_key_signs_mail_queued_before_the_rotation(
    app, course, smtp_sink, dkim_key, tmp_path
):
    _queue_two(app, course)
    new_key, new_record = make_key(tmp_path, "rotated.pem")
    dkim_key[0].write_bytes(new_key.read_bytes())  # the operator replaces the key file
    work(app)
    [got] = smtp_sink.to("bea@example.com")
    assert dkim.verify(got.raw, dnsfunc=DNS(new_record))
    assert not dkim.verify(got.raw, dnsfunc=DNS(dkim_key[1]))


def test_the_file_transport_signs_too(app, course, smtp_sink, dkim_key, tmp_path):
    app.config.update(NOTIFICATIONS_TRANSPORT="file", NOTIFICATIONS_MAIL_DIR=str(tmp_path / "m"))
    _queue_two(app, course)
    work(app)
    written = sorted((tmp_path / "m").glob("*.eml"))
    assert len(written) == 2
    assert all(dkim.verify(path.read_bytes(), dnsfunc=DNS(dkim_key[1])) for path in written)


def test_half_configured_dkim_sends_nothing_and_says_why(app, course, smtp_sink):
    app.config["DKIM_PRIVATE_KEY_PATH"] = None
    _queue_two(app, course)
    work(app)
    assert smtp_sink.received == []
    rows = outbox(app)
    assert {row.status for row in rows} == {OutboxStatus.QUEUED}  # retried later
    assert all("HEARTH_DKIM_PRIVATE_KEY_PATH" in (row.last_error or "") for row in rows)


def test_signer_settings(tmp_path, dkim_key):
    assert signer_from_config({}) is None
    assert signer_from_config({"DKIM_SELECTOR": "", "DKIM_DOMAIN": None}) is None
    with pytest.raises(DKIMConfigError, match="HEARTH_DKIM_DOMAIN"):
        signer_from_config({"DKIM_SELECTOR": "s", "DKIM_PRIVATE_KEY_PATH": str(dkim_key[0])})
    settings = {"DKIM_SELECTOR": "s", "DKIM_DOMAIN": "Example.ORG"}
    with pytest.raises(DKIMConfigError, match="cannot read"):
        signer_from_config({**settings, "DKIM_PRIVATE_KEY_PATH": str(tmp_path / "none.pem")})
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(DKIMConfigError, match="can't sign"):
        signer_from_config({**settings, "DKIM_PRIVATE_KEY_PATH": str(broken)})
    signer = signer_from_config({**settings, "DKIM_PRIVATE_KEY_PATH": str(dkim_key[0])})
    assert signer is not None and signer.domain == "example.org"


def test_the_dns_record_is_the_public_key_in_base64(dkim_key):
    record = dkim_key[1]
    assert record.startswith("v=DKIM1; k=rsa; p=")
    base64.b64decode(record.split("p=", 1)[1], validate=True)
