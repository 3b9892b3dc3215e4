"""Realistic posts and figures in bulk, for report tests over many years and for screenshots.

`seed_history` fills a database with N years of Tryg Aalborg's campaigns as they were published
(several channels, two Facebook pages, imported website news without figures, metric samples
at +1 h, +1 d and +7 d), with a seeded random generator so every run gives the same rows.
`seed_planned` adds one year of drafts and queued posts (text, link, image with alt text) for the
calendar and the web view. Rows go in with multi-row INSERTs and explicit ids: 10 years take well
under a second on SQLite.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from comms.store.db import session_scope
from comms.store.models import AuditEvent, MetricSample, Post, PostState
from tests.factories import channel_table

ZONE = ZoneInfo("Europe/Copenhagen")

# name -> type; two Facebook pages, so the report's channel types must add them up
CHANNELS = {
    "hjemmeside": "site",
    "kommune-facebook": "facebook",
    "politi-facebook": "facebook",
    "instagram": "instagram",
    "nyhedsbrev": "email",
}

FB_TOKEN = "COMMS_TEST_FB_TOKEN"
CHANNELS_TOML = "\n".join(
    (
        channel_table("hjemmeside", "site", path="site"),
        channel_table("kommune-facebook", "facebook", page_id="1", token_env=FB_TOKEN),
        channel_table("politi-facebook", "facebook", page_id="2", token_env=FB_TOKEN),
        channel_table("instagram", "instagram", ig_user_id="3", token_env=FB_TOKEN),
        channel_table("nyhedsbrev", "email"),
    )
)


@dataclass(frozen=True)
class Campaign:
    slug: str
    focus_area: str
    month: int
    day: int
    title: str
    audience: str


CAMPAIGNS = (
    Campaign("blaa-mandag", "Et trygt natteliv", 2, 10, "Blå Mandag", "unge"),
    Campaign("karneval", "Trygge byfester", 5, 24, "Aalborg Karneval", "alle"),
    Campaign("boernekarneval", "Trygge byfester", 5, 21, "Børnekarneval", "forældre"),
    Campaign("sidste-skoledag", "Et trygt natteliv", 6, 20, "Sidste skoledag", "forældre"),
    Campaign("indbrud-sommerferie", "Færre indbrud", 7, 1, "Indbrud i sommerferien", "alle"),
    Campaign("indbrud-efteraarsferie", "Færre indbrud", 10, 13, "Indbrud i efterårsferien", "alle"),
    Campaign("refleks", "Sikker trafik", 10, 27, "Brug refleks", "alle"),
    Campaign("julefrokost", "Et trygt natteliv", 11, 21, "Julefrokostsæsonen", "unge"),
    Campaign("indbrud-juleferie", "Færre indbrud", 12, 19, "Indbrud i juleferien", "alle"),
)
STEPS = ((-14, "varsel", 9), (-7, "paamindelse", 12), (-1, "dagen-foer", 15), (0, "dagen", 8))
# typical reach per channel type (lognormal median); sites count nothing
REACH = {"facebook": 6000, "instagram": 2500, "email": 4200}

TEXTS = {
    "varsel": "Om to uger: {title}. Læs hvordan du og dine kommer trygt hjem: {link}",
    "paamindelse": "Én uge til {title}. Aftal med vennerne, hvordan I kommer hjem. {link}",
    "dagen-foer": "I morgen er det {title}! Husk: pas på hinanden, og ring 112 ved fare. {link}",
    "dagen": "Så er det i dag: {title}. Tryg Aalborg er på gaden hele aftenen. {link}",
}


def _key(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _next_ids(session: sa.orm.Session) -> tuple[int, int]:
    post = session.execute(sa.select(sa.func.max(Post.id))).scalar() or 0
    sample = session.execute(sa.select(sa.func.max(MetricSample.id))).scalar() or 0
    return post + 1, sample + 1


def _post_row(
    rng: random.Random,
    post_id: int,
    *,
    campaign: Campaign | None,
    step: str | None,
    channel: str,
    when: datetime,
    state: str,
    title: str,
    image: str | None = None,
) -> dict[str, object]:
    """One post row; its link is the campaign's page (the news page without one) and its text
    the step's wording (or the title and link)."""
    published = state == PostState.PUBLISHED
    link = f"https://www.aalborg.dk/tryg/{campaign.slug if campaign else 'nyt'}"
    text = TEXTS[step].format(title=title, link=link) if step else f"{title}. {link}"
    return {
        "id": post_id,
        "plan_key": None if campaign is None else f"{campaign.slug}/{when.year}/{step}/{channel}",
        "source": "plan" if campaign else "import",
        "campaign": campaign.slug if campaign else None,
        "focus_area": campaign.focus_area if campaign else None,
        "year": when.year if campaign else None,
        "occurrence": date(when.year, campaign.month, campaign.day) if campaign else None,
        "step": step,
        "audience": campaign.audience if campaign else None,
        "channel": channel,
        "title": title,
        "text": text,
        "link": link,
        "image_path": image,
        "image_alt": "Tre unge går hjem sammen gennem Aalborgs gader om aftenen" if image else None,
        "scheduled_at": when.astimezone(UTC),
        "local_time": when.strftime("%Y-%m-%d %H:%M"),
        "dst_adjusted": False,
        "state": state,
        "approved_by": "sara" if state != PostState.DRAFT else None,
        "approved_at": (when - timedelta(days=20)).astimezone(UTC)
        if state != PostState.DRAFT
        else None,
        "idempotency_key": _key(rng),
        "attempts": 1 if published else 0,
        "external_id": f"ext-{post_id}" if published else None,
        "external_url": f"https://www.facebook.com/tryg.aalborg/posts/{post_id}"
        if published and CHANNELS[channel] == "facebook"
        else None,
        "published_at": when.astimezone(UTC) if published else None,
        "created_at": (when - timedelta(days=30)).astimezone(UTC),
        "updated_at": (when - timedelta(days=20)).astimezone(UTC),
    }


def seed_history(
    url: str, *, first_year: int = 2017, years: int = 10, news_per_week: int = 2, seed: int = 7
) -> int:
    """Published posts and their samples for `years` years from `first_year`; returns the count."""
    rng = random.Random(seed)
    posts: list[dict[str, object]] = []
    samples: list[dict[str, object]] = []
    with session_scope(url) as session:
        post_id, sample_id = _next_ids(session)
        for year in range(first_year, first_year + years):
            planned: list[tuple[Campaign | None, str | None, str, datetime, str]] = []
            for campaign in CAMPAIGNS:
                event = date(year, campaign.month, campaign.day)
                for offset, step, hour in STEPS:
                    when = datetime.combine(event + timedelta(days=offset), time(hour), ZONE)
                    for channel in CHANNELS:
                        if channel == "nyhedsbrev" and step != "varsel":
                            continue
                        if channel == "instagram" and campaign.audience != "unge":
                            continue
                        title = f"{campaign.title} {year}"
                        planned.append((campaign, step, channel, when, title))
            day = date(year, 1, 2)
            while day.year == year:  # imported website news, without figures
                for n in range(news_per_week):
                    when = datetime.combine(day + timedelta(days=2 * n), time(10), ZONE)
                    if when.year == year:
                        planned.append((None, None, "hjemmeside", when, "Nyt fra Tryg Aalborg"))
                day += timedelta(days=7)
            for campaign, step, channel, when, title in planned:
                posts.append(
                    _post_row(
                        rng,
                        post_id,
                        campaign=campaign,
                        step=step,
                        channel=channel,
                        when=when,
                        state=PostState.PUBLISHED,
                        title=title,
                    )
                )
                median = REACH.get(CHANNELS[channel])
                if median is not None:
                    growth = 1 + 0.06 * (year - first_year)  # the pages gain followers
                    reach = int(median * growth * rng.lognormvariate(0, 0.6))
                    published = when.astimezone(UTC)
                    for hours, share in ((1, 0.35), (24, 0.8), (24 * 7, 1.0)):
                        samples.append(
                            {
                                "id": sample_id,
                                "post_id": post_id,
                                "collected_at": published + timedelta(hours=hours),
                                "reach": int(reach * share),
                                "impressions": int(reach * share * 1.6),
                                "engagements": int(reach * share * rng.uniform(0.01, 0.06)),
                                "clicks": int(reach * share * 0.01),
                            }
                        )
                        sample_id += 1
                post_id += 1
        _insert(session, Post, posts)
        _insert(session, MetricSample, samples)
    return len(posts)


def seed_planned(url: str, *, year: int, image: str | None = None, seed: int = 11) -> list[int]:
    """Drafts and queued posts of every campaign in `year`, with audit events; returns the ids."""
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    with session_scope(url) as session:
        post_id, _ = _next_ids(session)
        for index, campaign in enumerate(CAMPAIGNS):
            event = date(year, campaign.month, campaign.day)
            state = PostState.QUEUED if index % 2 == 0 else PostState.DRAFT
            for offset, step, hour in STEPS:
                when = datetime.combine(event + timedelta(days=offset), time(hour), ZONE)
                for channel in ("hjemmeside", "kommune-facebook", "politi-facebook"):
                    rows.append(
                        _post_row(
                            rng,
                            post_id,
                            campaign=campaign,
                            step=step,
                            channel=channel,
                            when=when,
                            state=state,
                            title=f"{campaign.title} {year}",
                            image=image,
                        )
                    )
                    planned_at = when - timedelta(days=30)
                    events.append(
                        {
                            "at": planned_at.astimezone(UTC),
                            "actor": "sara",
                            "action": "plan",
                            "post_id": post_id,
                            "campaign": campaign.slug,
                            "detail": "planned from the campaign file",
                        }
                    )
                    if state == PostState.QUEUED:
                        events.append(
                            {
                                "at": (planned_at + timedelta(days=10)).astimezone(UTC),
                                "actor": "mikkel",
                                "action": "approve",
                                "post_id": post_id,
                                "campaign": campaign.slug,
                                "detail": None,
                            }
                        )
                    post_id += 1
        _insert(session, Post, rows)
        _insert(session, AuditEvent, events)
    return [int(row["id"]) for row in rows]  # type: ignore[call-overload]


def _insert(session: sa.orm.Session, model: type, rows: list[dict[str, object]]) -> None:
    for start in range(0, len(rows), 2000):
        session.execute(sa.insert(model), rows[start : start + 2000])


def queue_future_posts(url: str, count: int, *, channel: str, start: int = 0) -> None:
    """`count` approved posts on `channel`, due 7 minutes apart from tomorrow on (posts
    `later/<start>` on), for a daemon with a long queue ahead."""
    base = datetime.now(UTC) + timedelta(days=1)
    now = datetime.now(UTC)
    rows: list[dict[str, object]] = [
        {
            "plan_key": f"later/{n}",
            "source": "plan",
            "channel": channel,
            "title": f"Opslag {n}",
            "text": "Husk refleksen",
            "scheduled_at": base + timedelta(minutes=7 * n),
            "state": PostState.QUEUED,
            "approved_by": "anne",
            "dst_adjusted": False,
            "attempts": 0,
            "idempotency_key": str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
        }
        for n in range(start, start + count)
    ]
    with session_scope(url) as session:
        _insert(session, Post, rows)
