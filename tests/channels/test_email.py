"""The email channel against real SMTP servers (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from comms.channels.base import Figures, OutgoingPost, Receipt
from comms.channels.email import EmailChannel
from comms.channels.registry import create_channel
from comms.channels.settings import ChannelSettings
from comms.errors import AuthError, RejectedError, TransientError
from tests.channels import factory

ENV = "COMMS_TEST_SMTP_PASSWORD"
PASSWORD = "smtp-MARKER-pw-8812"  # no error message may ever show this
RECIPIENTS = ["anna@example.dk", "bo@example.dk", "cecilie@example.dk"]
PNG = factory.picture_bytes("PNG")


class Inbox:
    """An aiosmtpd handler that keeps what it receives, and answers as told."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.rcpt_replies: dict[str, str] = {}  # address -> reply, e.g. "550 5.1.1 unknown"
        self.data_reply: str | None = None
        self.data_delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_delay:
            await asyncio.sleep(self.data_delay)  # the slow server IS the case under test
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"tryg"
        and (auth_data.password == PASSWORD.encode())
    )
    return AuthResult(success=ok, handled=False)  # False: the server answers 535 itself


class Smtp:
    """A running aiosmtpd server with its inbox."""

    def __init__(self, **kwargs) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> Smtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


@pytest.fixture
def smtp(monkeypatch) -> Iterator[Smtp]:
    monkeypatch.setenv(ENV, PASSWORD)
    with Smtp(authenticator=authenticator, auth_require_tls=False) as server:
        yield server


def channel(port: int, **options: object) -> EmailChannel:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "from": "Tryg Aalborg <nyhedsbrev@tryg-aalborg.dk>",
        "to": RECIPIENTS,
        "timeout_seconds": 2,
    }
    values.update(options)
    return EmailChannel(ChannelSettings(name="nyhedsbrev", type="email", options=values))


def post(**fields: object) -> OutgoingPost:
    values: dict[str, object] = {
        "post_id": 4,
        "idempotency_key": str(uuid.uuid5(uuid.NAMESPACE_OID, "mail-4")),
        "channel": "nyhedsbrev",
        "title": "Sådan passer vi på hinanden i nattelivet – æøå ÆØÅ",
        "text": "Kom godt hjem efter festen.\nFølg en ven.\n\nLæs om <trygge> ruter & mere.",
        "link": "https://aalborg.dk/natteliv",
    }
    values.update(fields)
    return OutgoingPost(**values)  # type: ignore[arg-type]


def received(smtp: Smtp) -> email.message.EmailMessage:
    [(_sender, _rcpts, content)] = smtp.inbox.messages
    # stored as a mail client would: CRLF from the wire becomes the local newline
    return email.message_from_bytes(content.replace(b"\r\n", b"\n"), policy=email.policy.default)


# --- success -----------------------------------------------------------------------------------


def test_registry_builds_the_email_channel():
    settings = ChannelSettings(name="n", type="email", options={})
    assert isinstance(create_channel(settings), EmailChannel)


def test_newsletter_arrives_with_danish_subject_and_both_parts(smtp, tmp_path):
    image = tmp_path / "plakat.png"
    image.write_bytes(PNG)
    mailer = channel(smtp.port, username="tryg", password_env=ENV)
    receipt = mailer.publish(post(image_path=image, image_alt="To venner går hjem over broen"))

    [(sender, rcpts, raw)] = smtp.inbox.messages
    assert sender == "nyhedsbrev@tryg-aalborg.dk"
    assert rcpts == RECIPIENTS
    assert raw.isascii()  # 7-bit safe for any relay: headers RFC 2047, bodies quoted-printable
    message = received(smtp)
    assert message["Subject"] == "Sådan passer vi på hinanden i nattelivet – æøå ÆØÅ"
    assert message["To"] == "undisclosed-recipients:;"
    assert not any(address in raw.decode() for address in RECIPIENTS)
    assert message["Message-ID"] == receipt.external_id == mailer.message_id(post())
    assert message.get_content_type() == "multipart/alternative"

    text = message.get_body(preferencelist=("plain",))
    assert text.get_content() == (
        "Kom godt hjem efter festen.\nFølg en ven.\n\nLæs om <trygge> ruter & mere.\n\n"
        "Læs mere: https://aalborg.dk/natteliv\n"
    )
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<h1>Sådan passer vi på hinanden i nattelivet – æøå ÆØÅ</h1>" in html
    assert "<p>Kom godt hjem efter festen.<br>\nFølg en ven.</p>" in html
    assert "Læs om &lt;trygge&gt; ruter &amp; mere." in html
    assert '<a href="https://aalborg.dk/natteliv">' in html

    related = message.get_payload()[1]
    assert related.get_content_type() == "multipart/related"
    [picture] = [p for p in related.iter_parts() if p.get_content_maintype() == "image"]
    cid = picture["Content-ID"].strip("<>")
    assert f'<img src="cid:{cid}" alt="To venner går hjem over broen">' in html
    assert picture.get_content() == PNG
    assert picture.get_content_type() == "image/png"


def test_newsletter_without_image_has_plain_html_alternative(smtp):
    channel(smtp.port).publish(post(link=None))
    message = received(smtp)
    kinds = [part.get_content_type() for part in message.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "Læs mere" not in message.get_body(preferencelist=("plain",)).get_content()


def test_single_recipient_is_shown_and_message_id_follows_the_key(smtp):
    mailer = channel(smtp.port, to=["liste@example.dk"])
    first = mailer.publish(post())
    assert received(smtp)["To"] == "liste@example.dk"
    assert first.external_id == f"<comms.{post().idempotency_key}@tryg-aalborg.dk>"
    other = post(idempotency_key="x y/z")
    assert mailer.message_id(other) == mailer.message_id(other)
    assert " " not in mailer.message_id(other)


def test_image_without_alt_text_is_rejected_before_connecting(tmp_path):
    image = tmp_path / "plakat.png"
    image.write_bytes(PNG)
    with pytest.raises(RejectedError, match="alt text"):
        channel(free_port()).publish(post(image_path=image, image_alt=""))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate for the STARTTLS test")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_starttls_and_login_then_delivery(certificate, monkeypatch):
    cert, key = certificate
    monkeypatch.setenv(ENV, PASSWORD)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with Smtp(tls_context=context, require_starttls=True, authenticator=authenticator) as server:
        mailer = channel(
            server.port, starttls=True, ca_file=str(cert), username="tryg", password_env=ENV
        )
        assert mailer.check().ok
        mailer.publish(post())
        assert len(server.inbox.messages) == 1
        # a server whose certificate is not trusted is never given the password
        untrusting = channel(server.port, starttls=True, username="tryg", password_env=ENV)
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.publish(post())
        assert len(server.inbox.messages) == 1


# --- failures ----------------------------------------------------------------------------------


def test_refused_login_535_is_auth_and_never_shows_the_password(smtp, monkeypatch):
    monkeypatch.setenv(ENV, "wrong-" + PASSWORD)
    mailer = channel(smtp.port, username="tryg", password_env=ENV)
    with pytest.raises(AuthError) as info:
        mailer.publish(post())
    assert info.value.status == 535
    assert ENV in str(info.value)
    assert PASSWORD not in str(info.value)
    result = mailer.check()
    assert not result.ok
    assert "535" in result.message
    assert PASSWORD not in result.message
    assert smtp.inbox.messages == []


def test_every_recipient_refused_550_is_rejected(smtp):
    smtp.inbox.rcpt_replies = dict.fromkeys(RECIPIENTS, "550 5.1.1 Mailbox unavailable")
    with pytest.raises(RejectedError) as info:
        channel(smtp.port).publish(post())
    assert info.value.status == 550
    assert "550 5.1.1 Mailbox unavailable" in str(info.value)


def test_greylisting_451_is_transient_and_not_delivered(smtp):
    smtp.inbox.rcpt_replies = dict.fromkeys(RECIPIENTS, "451 4.7.1 Greylisted, try again later")
    with pytest.raises(TransientError) as info:
        channel(smtp.port).publish(post())
    assert info.value.status == 451
    assert info.value.maybe_delivered is False


def test_one_recipient_refused_still_delivers_to_the_others(smtp, caplog):
    smtp.inbox.rcpt_replies = {"bo@example.dk": "550 5.1.1 No such user"}
    receipt = channel(smtp.port).publish(post())
    [(_sender, rcpts, _raw)] = smtp.inbox.messages
    assert rcpts == ["anna@example.dk", "cecilie@example.dk"]
    assert isinstance(receipt, Receipt)
    assert "bo@example.dk" in caplog.text


@pytest.mark.parametrize(
    ("reply", "error", "status"),
    [
        ("451 4.3.0 Local error in processing", TransientError, 451),
        ("554 5.7.1 Message rejected as spam", RejectedError, 554),
    ],
)
def test_reply_to_the_message_data(smtp, reply, error, status):
    smtp.inbox.data_reply = reply
    with pytest.raises(error) as info:
        channel(smtp.port).publish(post())
    assert info.value.status == status
    if error is TransientError:
        assert info.value.maybe_delivered is False  # the server said it did not take it


def test_no_answer_after_the_data_may_have_delivered(smtp):
    smtp.inbox.data_delay = 1.5
    with pytest.raises(TransientError) as info:
        channel(smtp.port, timeout_seconds=0.5).publish(post())
    assert info.value.maybe_delivered is True
    assert "after the message was sent" in str(info.value)


def test_connection_refused_is_transient_and_not_delivered():
    with pytest.raises(TransientError) as info:
        channel(free_port()).publish(post())
    assert info.value.maybe_delivered is False
    with pytest.raises(TransientError):
        channel(free_port()).check()


def test_server_closing_at_greeting_421_is_transient():
    """A raw server that greets with 421 and hangs up, as an overloaded relay does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def greet() -> None:
        conn, _ = listener.accept()
        conn.sendall(b"421 4.3.2 Too busy, closing\r\n")
        conn.close()

    thread = threading.Thread(target=greet, daemon=True)
    thread.start()
    try:
        with pytest.raises(TransientError) as info:
            channel(listener.getsockname()[1]).publish(post())
        assert info.value.maybe_delivered is False
    finally:
        listener.close()


# --- check, find, metrics ----------------------------------------------------------------------


def test_check_logs_in_and_sends_nothing(smtp):
    result = channel(smtp.port, username="tryg", password_env=ENV).check()
    assert result.ok, result.message
    assert "as tryg" in result.message
    assert result.expires_at is None
    assert smtp.inbox.messages == []


def test_smtp_has_no_lookup_and_no_figures(smtp):
    mailer = channel(smtp.port)
    receipt = mailer.publish(post())
    assert mailer.idempotent is False
    assert mailer.find(post()) is None
    assert mailer.has_metrics is False
    assert mailer.metrics(receipt) == Figures()


def test_module_name_does_not_shadow_the_standard_email_package():
    import comms.channels.email as ours

    assert email.__file__ != ours.__file__
    assert email.message_from_bytes.__module__ == "email"
