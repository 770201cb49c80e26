"""Optional DKIM signing (RFC 6376) of outgoing mail, for relays that don't sign.

Most relays (a mail provider, a corporate smarthost) sign what they send for your domain,
and then Hearth must not. For one that doesn't, set all three of ``DKIM_SELECTOR``,
``DKIM_DOMAIN`` and ``DKIM_PRIVATE_KEY_PATH`` (an RSA key in PEM) and the worker signs
every message as it hands it to the transport.

Signing happens at send time, never at queue time: the outbox keeps the unsigned bytes,
so a retry or a message queued before a key rotation is signed with the key in force when
it actually leaves, and the signature's timestamp is the sending time. The key file is
read again for every batch, so replacing it needs no restart.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim

# What a receiver must see unchanged for the message to be ours: who it is from and to,
# what it says it is, and the unsubscribe headers (RFC 8058 asks for them to be signed,
# or mailbox providers ignore one-click). Names absent from a message are signed as
# absent (RFC 6376 section 5.4), so nobody can add them on the way.
SIGNED_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "MIME-Version",
    "Content-Type",
)

CONFIG_KEYS = ("DKIM_SELECTOR", "DKIM_DOMAIN", "DKIM_PRIVATE_KEY_PATH")


class DKIMConfigError(OSError):
    """DKIM is half configured, or its key can't be read or used: nothing is sent.

    An OSError, like a relay that can't be reached: the worker then retries the batch
    with growing delays and records this message as each row's last error, so mail waits
    for the setting to be fixed instead of leaving unsigned or stuck in a claim.
    """


@dataclass(frozen=True)
class DKIMSigner:
    """Signs raw messages with one key, for one selector of one domain."""

    selector: str
    domain: str
    private_key: bytes  # PEM

    def sign(self, raw: bytes) -> bytes:
        """The same bytes with a DKIM-Signature header in front (relaxed/relaxed)."""
        signature = dkim.sign(
            raw,
            self.selector.encode("ascii"),
            self.domain.encode("ascii"),
            self.private_key,
            # relaxed/relaxed: survives the re-folding and whitespace changes relays make.
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=[name.lower().encode("ascii") for name in SIGNED_HEADERS],
            linesep=b"\r\n",
        )
        return signature + raw


def signer_from_config(config: Mapping[str, Any]) -> DKIMSigner | None:
    """The signer the settings ask for, or None when DKIM is off (all three unset).

    Raises DKIMConfigError when only some are set, or the key can't be read or used: a
    worker then sends nothing, rather than mail that fails the checks it was meant to pass.
    """
    values = {key: str(config.get(key) or "").strip() for key in CONFIG_KEYS}
    if not any(values.values()):
        return None
    missing = [f"HEARTH_{key}" for key, value in values.items() if not value]
    if missing:
        raise DKIMConfigError(f"DKIM signing needs {', '.join(missing)} as well")
    selector, domain = values["DKIM_SELECTOR"], values["DKIM_DOMAIN"].lower()
    if not (selector.isascii() and domain.isascii()):
        raise DKIMConfigError("HEARTH_DKIM_SELECTOR and HEARTH_DKIM_DOMAIN must be ASCII")
    path = Path(values["DKIM_PRIVATE_KEY_PATH"])
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise DKIMConfigError(f"cannot read the DKIM key {path}: {exc.strerror}") from None
    signer = DKIMSigner(selector=selector, domain=domain, private_key=key)
    try:
        # One signature on a tiny message: a wrong or damaged key fails here, once.
        signer.sign(b"From: check@" + domain.encode() + b"\r\nSubject: key\r\n\r\nok\r\n")
    except (dkim.DKIMException, ValueError) as exc:
        raise DKIMConfigError(f"the DKIM key {path} can't sign: {exc}") from None
    return signer


def dns_record(public_key_der: bytes) -> str:
    """The TXT record to publish at ``<selector>._domainkey.<domain>`` for a public key
    (DER SubjectPublicKeyInfo, as ``openssl rsa -pubout -outform DER`` writes it)."""
    return f"v=DKIM1; k=rsa; p={base64.b64encode(public_key_der).decode('ascii')}"
