"""The `email` channel: a newsletter sent over SMTP, one message to a list of recipients.

The message is multipart/alternative: a plain-text part and an HTML part (paragraphs, links,
escaped text), the HTML with the image inline (multipart/related, `cid:`) and its alt text. The
subject is the post's title (RFC 2047 encoded, so æøå survive). Recipients go in the envelope
only; the To header shows `to_header` (default: the single recipient, or
"undisclosed-recipients:;" for a list), so a newsletter never shows residents each other's
addresses.

SMTP has no idempotency and no way to ask a server what it delivered, so `idempotent` is False,
`find()` cannot tell (None), and a failure after the message data was sent is reported as maybe
delivered (the queue then marks the post `unknown` rather than mailing everyone twice). The
Message-ID is derived from the idempotency key, so a copy that did go out twice can be
recognised by the receiving side. A newsletter has no figures: `has_metrics` is False.

How failures map (RFC 5321 reply classes):
- cannot connect (refused, DNS, connect timeout): transient, not delivered;
- 4xx replies (e.g. 451, 421, 452): transient; not delivered when the server said so before or
  at the end of DATA;
- 535/534/530 or a refused login: auth, naming `$password_env`;
- other 5xx replies (e.g. 550, 554): rejected; a recipient refused while others were accepted
  is logged and the newsletter counts as sent;
- a lost connection or timeout after the message data was sent: transient, maybe delivered.

Options: `host` (default "localhost"), `port` (default 587 with STARTTLS, else 25), `starttls`
(default true), `ssl` (implicit TLS, e.g. port 465; default false), `ca_file` (a CA to trust for
a server with a private certificate), `username`, `password_env`, `from`, `to` (list), `to_header`,
`read_more` (default "Læs mere"), `timeout_seconds` (default 30).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import mimetypes
import os
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from html import escape
from pathlib import Path

from comms.channels.base import Channel, CheckResult, OutgoingPost, PreviewCard, Receipt
from comms.channels.options import Option
from comms.channels.scrub import Scrubber
from comms.channels.settings import ChannelSettings
from comms.content.text import is_url, linkify
from comms.errors import (
    AuthError,
    ChannelError,
    ConfigError,
    RejectedError,
    TransientError,
)

log = logging.getLogger(__name__)
_AUTH_CODES = frozenset({530, 534, 535, 538})  # auth required / too weak / refused / needs TLS


class EmailChannel(Channel):
    """A newsletter over SMTP: one message, text and HTML, to every configured recipient."""

    name = "email"
    idempotent = False  # SMTP cannot refuse a second copy; a resend mails everyone again
    has_metrics = False  # no opens or clicks without a tracking service

    label = "Nyhedsbrev"
    title = "Nyhedsbrev (e-mail)"
    preview = PreviewCard("email", "E-mail")
    post_words = ("nyhedsbrev", "nyhedsbreve")
    options = (
        Option("host", str, "the SMTP server", default="localhost"),
        Option("port", int, "its port; default 465 with ssl, 587 with starttls, else 25"),
        Option("starttls", bool, "upgrade the connection with STARTTLS; default: when not ssl"),
        Option("ssl", bool, "connect with TLS from the start", default=False),
        Option("ca_file", str, "CA bundle to trust instead of the system's"),
        Option("username", str, "the SMTP login", default=""),
        Option("password_env", str, "variable holding the SMTP password", secret=True),
        Option("from", str, "the sender, e.g. Tryg Aalborg <nyhedsbrev@aalborg.dk>"),
        Option("to", list, "the recipients", default=[], items=str),
        Option("to_header", str, "the To: header shown instead of the recipients"),
        Option("read_more", str, "text of the link after the text", default="Læs mere"),
    )

    def __init__(self, settings: ChannelSettings) -> None:
        super().__init__(settings)
        self.host = str(settings.get("host", "localhost"))
        self.use_ssl = bool(settings.get("ssl", False))
        self.starttls = bool(settings.get("starttls", not self.use_ssl))
        default_port = 465 if self.use_ssl else 587 if self.starttls else 25
        self.port = int(settings.get("port", default_port))
        self.ca_file = settings.get("ca_file")
        self.username = str(settings.get("username", "") or "")
        self.password_env = str(settings.get("password_env", "") or "")
        self.sender = str(settings.get("from", "") or "")
        recipients = settings.get("to", []) or []
        self.recipients = [recipients] if isinstance(recipients, str) else list(recipients)
        self.to_header = settings.get("to_header")
        self.read_more = str(settings.get("read_more", "Læs mere"))
        self.timeout = float(settings.get("timeout_seconds", 30))

    # -- the contract -----------------------------------------------------------------------

    def publish(self, post: OutgoingPost) -> Receipt:
        """Build the newsletter and hand it to the SMTP server for every recipient."""
        try:
            return self._publish(post)
        except ChannelError as exc:
            raise self._scrubbed(exc) from None

    def check(self) -> CheckResult:
        """Connect, EHLO, STARTTLS and log in as configured, then QUIT; nothing is sent."""
        try:
            result = self._check()
        except ChannelError as exc:
            raise self._scrubbed(exc) from None
        return CheckResult(result.ok, self.scrub(result.message), result.expires_at)

    def scrub(self, text: str) -> str:
        """`text` without the password in any form, as an SMTP reply may quote it back: plain,
        and base64 as AUTH PLAIN and LOGIN send it (`\\0user\\0password`, the password alone)."""
        password = os.environ.get(self.password_env, "") if self.password_env else ""
        if not password:
            return text
        plain = f"\0{self.username}\0{password}".encode()
        forms = [password, *(base64.b64encode(b).decode() for b in (plain, password.encode()))]
        return Scrubber(forms)(text)

    def _scrubbed(self, error: ChannelError) -> ChannelError:
        error.args = (self.scrub(str(error)),)
        return error

    def _publish(self, post: OutgoingPost) -> Receipt:
        message = self.message(post)
        data = message.as_bytes(policy=SMTP)
        sent_data = False
        try:
            with self._session() as smtp:
                self._expect(smtp.mail(self.envelope_sender), "MAIL FROM")
                refused: dict[str, tuple[int, bytes]] = {}
                for rcpt in self.recipients:
                    code, reply = smtp.rcpt(rcpt)
                    if code not in (250, 251):
                        refused[rcpt] = (code, reply)
                if len(refused) == len(self.recipients):
                    raise self._refused_all(refused)  # QUIT follows; no message was sent
                sent_data = True  # from here on the server may have the message
                code, reply = smtp.data(data)
                if code != 250:
                    raise self._reply_error(code, reply, "DATA")
        except ChannelError:
            raise
        except smtplib.SMTPResponseException as exc:
            raise self._reply_error(exc.smtp_code, exc.smtp_error, "SMTP") from None
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise self._lost(exc, sent_data) from None
        except smtplib.SMTPException as exc:
            raise TransientError(f"email: {exc}", maybe_delivered=sent_data) from None
        for rcpt, (code, reply) in refused.items():
            log.warning(
                "email: %s refused %s: %s %s", self.host, rcpt, code, self.scrub(_text(reply))
            )
        return Receipt(external_id=str(message["Message-ID"]), url=None)

    def _check(self) -> CheckResult:
        try:
            with self._session() as smtp:
                features = ", ".join(sorted(smtp.esmtp_features)) or "no extensions"
        except AuthError as exc:
            return CheckResult(False, str(exc))
        except ChannelError:
            raise
        except smtplib.SMTPResponseException as exc:
            return CheckResult(False, str(self._reply_error(exc.smtp_code, exc.smtp_error, "SMTP")))
        except (smtplib.SMTPException, OSError) as exc:
            raise self._lost(exc, False) from None
        who = f" as {self.username}" if self.username else ""
        tls = " with TLS" if self.use_ssl or self.starttls else " WITHOUT TLS"
        return CheckResult(True, f"{self.host}:{self.port}{tls}{who} accepts mail ({features})")

    # -- the message ------------------------------------------------------------------------

    @property
    def envelope_sender(self) -> str:
        return parseaddr(self.sender)[1]

    def message_id(self, post: OutgoingPost) -> str:
        """`<comms.<key>@<sender's domain>>`: the same post always has the same Message-ID."""
        domain = self.envelope_sender.rpartition("@")[2] or "comms.invalid"
        key = post.idempotency_key
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", key):
            key = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"<comms.{key}@{domain}>"

    def message(self, post: OutgoingPost) -> EmailMessage:
        """The newsletter: text and HTML alternatives, the image inline with its alt text."""
        if not self.sender or not self.recipients:
            raise ConfigError(
                f"channel {self.settings.name!r} needs `from` and `to`",
                hint='from = "Tryg Aalborg <nyhedsbrev@aalborg.dk>", to = ["liste@aalborg.dk"]',
            )
        message = EmailMessage()
        message["Subject"] = _title(post)
        message["From"] = self.sender
        message["To"] = self.to_header or (
            self.recipients[0] if len(self.recipients) == 1 else "undisclosed-recipients:;"
        )
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = self.message_id(post)
        message["Content-Language"] = "da"
        message.set_content(_plain(post, self.read_more), charset="utf-8", cte="quoted-printable")
        image = _image(post)
        cid = make_msgid(domain=self.message_id(post).rpartition("@")[2].rstrip(">"))
        html = _html(post, self.read_more, cid[1:-1] if image else None)
        message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        if image is not None:
            data, maintype, subtype, filename = image
            html_part = list(message.iter_parts())[1]
            html_part.add_related(
                data,
                maintype=maintype,
                subtype=subtype,
                cid=cid,
                filename=filename,
                disposition="inline",
            )
        return message

    # -- SMTP -------------------------------------------------------------------------------

    def _session(self) -> _Session:
        return _Session(self)

    def _connect(self, watch: Callable[[smtplib.SMTP], None] = lambda _smtp: None) -> smtplib.SMTP:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(timeout=self.timeout, context=context)
            if self.use_ssl
            else smtplib.SMTP(timeout=self.timeout)
        )  # not connected yet: the session's deadline watches it from the first byte
        # what TLS checks the certificate against (smtplib sets it only from a host in __init__)
        smtp._host = self.host  # type: ignore[attr-defined]
        watch(smtp)
        try:
            smtp.connect(self.host, self.port)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientError(
                f"email: cannot connect to {self.host}:{self.port}: {exc}", maybe_delivered=False
            ) from None
        try:
            smtp.ehlo()
            if self.starttls and not self.use_ssl:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                password = self.settings.secret("password_env")
                self._login(smtp, password)
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP, password: str) -> None:
        """AUTH PLAIN (or LOGIN) once: unlike `smtplib.login`, never retry a refused password
        with the next mechanism, which only adds failed logins towards a lockout."""
        offered = smtp.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise AuthError(
                f"email: {self.host}:{self.port} offers no AUTH PLAIN or LOGIN here "
                "(does it need STARTTLS first?)"
            )
        smtp.user, smtp.password = self.username, password
        try:
            smtp.auth(
                mechanism, getattr(smtp, f"auth_{mechanism.lower()}"), initial_response_ok=True
            )
        except smtplib.SMTPAuthenticationError as exc:
            raise self._auth(exc.smtp_code, exc.smtp_error) from None

    def _expect(self, answer: tuple[int, bytes], what: str) -> None:
        code, reply = answer
        if code != 250:
            raise self._reply_error(code, reply, what)

    def _auth(self, code: int, reply: bytes | str) -> AuthError:
        return AuthError(
            f"email: {self.host} refused the login of {self.username!r}: {code} {_text(reply)} "
            f"(renew the password in ${self.password_env})",
            status=code,
        )

    def _reply_error(self, code: int, reply: bytes | str, what: str) -> ChannelError:
        """An SMTP reply to its class: 4xx try again, 535 & co auth, other 5xx refused."""
        if code in _AUTH_CODES:
            return self._auth(code, reply)
        text = f"email: {self.host} answered {what} with {code} {_text(reply)}"
        if 400 <= code < 500:
            return TransientError(text, status=code, maybe_delivered=False)
        return RejectedError(text, status=code)

    def _refused_all(self, refused: dict[str, tuple[int, bytes]]) -> ChannelError:
        """Every recipient refused: try again if any refusal was temporary, else rejected."""
        codes = sorted({code for code, _ in refused.values()})
        first_rcpt, (code, reply) = next(iter(refused.items()))
        transient = [c for c in codes if 400 <= c < 500]
        return self._reply_error(
            transient[0] if transient else code,
            reply,
            f"RCPT TO ({len(refused)} refused, e.g. {first_rcpt})",
        )

    def _lost(self, exc: BaseException, sent_data: bool) -> TransientError:
        what = "after the message was sent" if sent_data else "before the message was sent"
        kind = "timed out" if isinstance(exc, socket.timeout | TimeoutError) else "connection lost"
        return TransientError(
            f"email: {kind} {what} ({self.host}:{self.port}): {exc}", maybe_delivered=sent_data
        )


class _Session:
    """An SMTP connection, logged in as configured, QUIT (or closed) on the way out, the whole
    of it within the channel's `timeout_seconds`."""

    def __init__(self, channel: EmailChannel) -> None:
        self.channel = channel
        self.smtp: smtplib.SMTP | None = None
        self.deadline = _Deadline(channel.timeout)

    def __enter__(self) -> smtplib.SMTP:
        self.deadline.start()
        try:
            self.smtp = self.channel._connect(watch=self.deadline.watch)
        except BaseException:
            self.deadline.finish()
            raise
        return self.smtp

    def __exit__(self, *exc: object) -> None:
        try:
            if self.smtp is not None:
                _close(self.smtp)
        finally:
            self.deadline.finish()


class _Deadline:
    """Shuts the session's socket down when its time is out.

    smtplib's timeout bounds each read; a server that sends its replies a byte at a time keeps
    every read short and the session alive for ever. Shutting the socket down ends the blocked
    read at once, and the session fails as a lost connection (sent or not, as it stood)."""

    def __init__(self, seconds: float) -> None:
        self.smtp: smtplib.SMTP | None = None
        self.expired = False
        self._done = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    def start(self) -> None:
        self._timer.start()

    def watch(self, smtp: smtplib.SMTP) -> None:
        self.smtp = smtp

    def finish(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True

    def _cut(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = getattr(self.smtp, "sock", None)  # after STARTTLS, the TLS socket
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a server that already hung up is no error."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _title(post: OutgoingPost) -> str:
    title = (post.title or "").strip()
    if title:
        return title
    return next((ln.strip() for ln in post.text.splitlines() if ln.strip()), "Nyhedsbrev")[:120]


def _plain(post: OutgoingPost, read_more: str) -> str:
    text = post.text.strip()
    if post.link and post.link not in text:
        text += f"\n\n{read_more}: {post.link}"
    return text + "\n"


def _html(post: OutgoingPost, read_more: str, cid: str | None) -> str:
    """A small, accessible HTML body: title, image with alt text, paragraphs with links."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="da"><head><meta charset="utf-8">',
        f"<title>{escape(_title(post))}</title></head><body>",
        f"<h1>{escape(_title(post))}</h1>",
    ]
    if cid is not None:
        parts.append(f'<p><img src="cid:{escape(cid)}" alt="{escape(post.image_alt or "")}"></p>')
    for block in re.split(r"\n\s*\n", post.text.strip()):
        if block.strip():
            lines = [str(linkify(line.strip())) for line in block.strip().splitlines()]
            parts.append("<p>" + "<br>\n".join(lines) + "</p>")
    if post.link and post.link not in post.text and is_url(post.link):
        link = escape(post.link)
        parts.append(f'<p>{escape(read_more)}: <a href="{link}">{link}</a></p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _image(post: OutgoingPost) -> tuple[bytes, str, str, str] | None:
    """The image's bytes and type, or None; a missing file or alt text is rejected."""
    if post.image_path is None:
        return None
    path = Path(post.image_path)
    if not (post.image_alt or "").strip():
        raise RejectedError(f"image {path} has no alt text: a newsletter needs one too")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RejectedError(f"cannot read image {path}: {exc.strerror or exc}") from None
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, _, subtype = kind.partition("/")
    return data, maintype, subtype, path.name
