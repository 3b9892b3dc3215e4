"""The bluesky channel against the reference PDS (see tests/peers/bluesky.py for how it runs).

Publishes through the adapter with an app password, then reads the record back with
com.atproto.repo.getRecord: link facets at UTF-8 byte offsets, the image blob and its alt text.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import requests

from comms.channels import bluesky
from comms.channels.base import OutgoingPost
from comms.channels.bluesky import BlueskyChannel, rkey_for
from comms.channels.settings import ChannelSettings
from comms.errors import AuthError, RejectedError, TransientError
from tests.peers import common
from tests.peers.bluesky import Account, Pds, create_account, pds  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # real servers, browsers, many processes or long loops

ENV = "COMMS_PEER_BLUESKY_PASSWORD"
URL = "https://www.aalborg.dk/tryghed/østerå-vandring?utm_source=bluesky"


def png(width: int = 40, height: int = 30) -> bytes:
    """A real (tiny, grey) PNG."""
    return common.png(width, height, b"\x80")


@pytest.fixture
def account(pds: Pds, monkeypatch: pytest.MonkeyPatch) -> Account:  # noqa: F811
    made = create_account(pds)
    monkeypatch.setenv(ENV, made.app_password)
    monkeypatch.setattr(bluesky, "_SESSIONS", {})
    return made


def channel(pds: Pds, account: Account, **options: object) -> BlueskyChannel:  # noqa: F811
    settings = ChannelSettings(
        name="bluesky",
        type="bluesky",
        options={"base_url": pds.url, "handle": account.handle, "password_env": ENV, **options},
    )
    return BlueskyChannel(settings)


def post(**fields: object) -> OutgoingPost:
    values: dict[str, object] = {
        "idempotency_key": str(uuid.uuid4()),
        "channel": "bluesky",
        "text": "Tryghedsvandring på Østerå og i Vejgaard i aften. Læs mere: "
        + URL
        + " #TrygAalborg",
    }
    values.update(fields)
    return OutgoingPost(post_id=1, **values)  # type: ignore[arg-type]


def get_record(pds: Pds, uri: str) -> dict:  # noqa: F811
    did, collection, rkey = uri.removeprefix("at://").split("/")
    response = requests.get(
        f"{pds.url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": collection, "rkey": rkey},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def test_post_with_link_facet_and_image_reads_back(
    pds: Pds,  # noqa: F811
    account: Account,
    tmp_path: Path,
) -> None:
    image = tmp_path / "vandring.png"
    image.write_bytes(png())
    alt = "Kort over ruten: fra Østerå Torv til Vejgaard Bibliotek, ca. 2 km"
    item = post(image_path=image, image_alt=alt)

    receipt = channel(pds, account).publish(item)

    rkey = rkey_for(item.idempotency_key)
    assert receipt.external_id == f"at://{account.did}/app.bsky.feed.post/{rkey}"
    stored = get_record(pds, receipt.external_id)
    record = stored["value"]
    assert record["text"] == item.text
    assert record["langs"] == ["da"]
    data = record["text"].encode()
    links = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#link")]
    (link,) = links
    start, end = link["index"]["byteStart"], link["index"]["byteEnd"]
    assert data[start:end].decode() == URL
    assert start == len(item.text[: item.text.index(URL)].encode())
    assert start != item.text.index(URL)  # Danish letters: byte and character offsets differ
    assert end - start == len(URL.encode()) != len(URL)
    assert link["features"][0]["uri"] == URL
    (tag,) = [f for f in record["facets"] if f["features"][0]["$type"].endswith("#tag")]
    assert data[tag["index"]["byteStart"] : tag["index"]["byteEnd"]] == b"#TrygAalborg"

    (embedded,) = record["embed"]["images"]
    assert record["embed"]["$type"] == "app.bsky.embed.images"
    assert embedded["alt"] == alt
    assert embedded["aspectRatio"] == {"width": 40, "height": 30}
    assert embedded["image"]["mimeType"] == "image/png"
    assert embedded["image"]["size"] == len(png())
    blob = requests.get(
        f"{pds.url}/xrpc/com.atproto.sync.getBlob",
        params={"did": account.did, "cid": embedded["image"]["ref"]["$link"]},
        timeout=10,
    )
    assert blob.content == png()


def test_a_retry_collides_and_returns_the_same_record(pds: Pds, account: Account) -> None:  # noqa: F811
    adapter = channel(pds, account)
    item = post()
    first = adapter.publish(item)
    again = adapter.publish(item)  # the reference PDS answers the collision with a 500
    assert again == first
    listed = requests.get(
        f"{pds.url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": account.did, "collection": "app.bsky.feed.post"},
        timeout=10,
    ).json()
    assert [r["uri"] for r in listed["records"]] == [first.external_id]
    assert adapter.find(item) == first
    assert adapter.find(post()) is None


def test_check_and_a_renewed_session(pds: Pds, account: Account) -> None:  # noqa: F811
    adapter = channel(pds, account)
    result = adapter.check()
    assert result.ok
    assert account.handle in result.message
    key = (adapter.base_url, account.handle)
    bluesky._SESSIONS[key] = {**bluesky._SESSIONS[key], "accessJwt": "not-a-token"}
    adapter.publish(post())  # InvalidToken -> refreshSession -> the post goes through
    assert bluesky._SESSIONS[key]["accessJwt"] != "not-a-token"


def test_wrong_app_password_is_an_auth_error(
    pds: Pds,  # noqa: F811
    account: Account,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "wrong-MARKER-app-password")
    with pytest.raises(AuthError) as info:
        channel(pds, account).publish(post())
    assert ENV in str(info.value)
    assert "wrong-MARKER-app-password" not in str(info.value)


def test_lexicon_violation_is_rejected_by_the_pds(pds: Pds, account: Account) -> None:  # noqa: F811
    adapter = channel(pds, account)
    adapter.max_graphemes = 10_000  # skip our own check: the PDS must refuse it too
    with pytest.raises(RejectedError, match="grapheme"):
        adapter.publish(post(text="æ" * 301))


def test_metrics_on_a_pds_without_appview_say_what_to_configure(
    pds: Pds,  # noqa: F811
    account: Account,
) -> None:
    adapter = channel(pds, account)
    receipt = adapter.publish(post())
    with pytest.raises(TransientError, match="appview_url"):
        adapter.metrics(receipt)
