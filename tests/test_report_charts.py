"""The report's charts read back from the drawn figures and the PNGs, on sparse and dense data.

Each chart is checked for what a reader sees: count axes tick whole numbers, each once; every bar
lies inside the axes' limits; a period of one month (or part of one) shows its bar; the title,
the legend and every label lie inside the figure, so nothing is cut off in the HTML, the DOCX or
the web view (they all show these PNGs as they are).
"""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from comms.config import Settings
from comms.report.charts import DPI, PALETTE, WIDTH_IN, build_charts, draw_charts
from comms.report.figures import Group, PostPoint, Report, build_report, post_points
from comms.store.db import session_scope
from comms.store.models import MetricSample, Post
from tests.seed import CHANNELS, CHANNELS_TOML, seed_history


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings(channels=CHANNELS_TOML)


def publish(settings: Settings, channel: str, when: datetime, reach: int | None) -> None:
    with session_scope(settings.database_url) as session:
        post = Post(channel=channel, state="published", published_at=when, scheduled_at=when)
        session.add(post)
        session.flush()
        if reach is not None:
            session.add(MetricSample(post_id=post.id, reach=reach, impressions=2 * reach))


def period(settings: Settings, start: date, end: date) -> tuple[Report, list[PostPoint]]:
    """The report and the chart points of the period, from the database as the CLI reads them."""
    report = build_report(
        settings.database_url, start=start, end=end, zone=settings.zone, channel_types=CHANNELS
    )
    return report, post_points(settings.database_url, start=start, end=end, zone=settings.zone)


def drawn(settings: Settings, start: date, end: date) -> dict[str, Any]:
    """The charts of the period, by key, each drawn and ready to read."""
    return _drawn(*period(settings, start, end))


def _drawn(report: Report, points: list[PostPoint]) -> dict[str, Any]:
    drawings = draw_charts(report, points)
    for drawing in drawings:
        drawing.figure.canvas.draw()
    return {d.key: d for d in drawings}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _in_view(locations: Any, limits: tuple[float, float]) -> list[int]:
    low, high = sorted(limits)
    return [i for i, loc in enumerate(locations) if low - 1e-9 <= loc <= high + 1e-9]


def count_ticks(axis: Any) -> list[int]:
    """The count axis's tick labels in view, read as Danish whole numbers ('1.234')."""
    labels = [label.get_text() for label in axis.get_ticklabels()]
    shown = [labels[i] for i in _in_view(axis.get_ticklocs(), axis.get_view_interval())]
    assert all(text.replace(".", "").isdigit() for text in shown), shown
    return [int(text.replace(".", "")) for text in shown]


def assert_count_axis(axis: Any) -> None:
    ticks = count_ticks(axis)
    assert len(ticks) >= 2, ticks
    assert len(set(ticks)) == len(ticks), f"repeated tick labels {ticks}"
    assert ticks == sorted(ticks)


def assert_unique_date_labels(ax: Any) -> None:
    labels = [label.get_text() for label in ax.xaxis.get_ticklabels()]
    shown = [labels[i] for i in _in_view(ax.get_xticks(), ax.get_xlim()) if labels[i]]
    assert shown, "no date on the x-axis"
    assert len(set(shown)) == len(shown), f"repeated date labels {shown}"


def assert_bars_inside(ax: Any) -> list[Any]:
    """Every bar lies inside the axes' limits; the bars with a height are returned."""
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    bars = [bar for bar in ax.patches if bar.get_width() and bar.get_height()]
    for bar in bars:
        left, bottom = bar.get_x(), bar.get_y()
        right, top = left + bar.get_width(), bottom + bar.get_height()
        assert x0 <= min(left, right), (left, x0)
        assert max(left, right) <= x1, (right, x1)
        assert y0 <= min(bottom, top), (bottom, y0)
        assert max(bottom, top) <= y1, (top, y1)
    return bars


def assert_texts_inside(figure: Any) -> None:
    """The title, the legend, every label and bar label lie inside the figure's own edges."""
    renderer = figure.canvas.get_renderer()
    edge = figure.bbox
    ax = figure.axes[0]
    texts = [ax.title, *ax.texts, ax.xaxis.label, ax.yaxis.label]
    for legend in figure.legends:
        texts.extend(legend.get_texts())
    for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        labels = axis.get_ticklabels()
        texts.extend(labels[i] for i in _in_view(axis.get_ticklocs(), (low, high)))
    for text in texts:
        if not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        where = (text.get_text(), box, edge)
        assert edge.x0 - 0.5 <= box.x0, where
        assert box.x1 <= edge.x1 + 0.5, where
        assert edge.y0 - 0.5 <= box.y0, where
        assert box.y1 <= edge.y1 + 0.5, where
    tight = figure.get_tightbbox(renderer)  # inches: everything drawn, inside the figure
    width, height = figure.get_size_inches()
    assert tight.x0 >= -0.01, tight
    assert tight.y0 >= -0.01, tight
    assert tight.x1 <= width + 0.01, tight
    assert tight.y1 <= height + 0.01, tight


def assert_sound(charts: dict[str, Any]) -> None:
    """What every chart must do, whatever the data."""
    for drawing in charts.values():
        assert_texts_inside(drawing.figure)
    if "opslag-pr-maaned" in charts:
        ax = charts["opslag-pr-maaned"].figure.axes[0]
        assert_count_axis(ax.yaxis)
        assert assert_bars_inside(ax)
    if "rakkevidde-pr-opslag" in charts:
        ax = charts["rakkevidde-pr-opslag"].figure.axes[0]
        assert_count_axis(ax.yaxis)
        assert_unique_date_labels(ax)
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        for collection in ax.collections:
            for x, y in collection.get_offsets():
                assert x0 < x < x1
                assert y0 <= y < y1
    if "rakkevidde-pr-kampagne" in charts:
        ax = charts["rakkevidde-pr-kampagne"].figure.axes[0]
        assert_count_axis(ax.xaxis)
        assert assert_bars_inside(ax)


def date_labels(charts: dict[str, Any]) -> list[str]:
    ax = charts["rakkevidde-pr-opslag"].figure.axes[0]
    labels = [label.get_text() for label in ax.xaxis.get_ticklabels()]
    return [labels[i] for i in _in_view(ax.get_xticks(), ax.get_xlim())]


def month_labels(charts: dict[str, Any]) -> list[str]:
    ax = charts["opslag-pr-maaned"].figure.axes[0]
    labels = [label.get_text() for label in ax.xaxis.get_ticklabels()]
    return [labels[i] for i in _in_view(ax.get_xticks(), ax.get_xlim())]


# --- sparse ----------------------------------------------------------------------------------


def test_one_post_on_one_day(settings: Settings):
    publish(settings, "kommune-facebook", datetime(2026, 12, 5, 9, tzinfo=UTC), 3)
    charts = drawn(settings, date(2026, 12, 5), date(2026, 12, 5))
    assert set(charts) == {"rakkevidde-pr-opslag", "opslag-pr-maaned", "rakkevidde-pr-kampagne"}
    assert_sound(charts)
    # reach 3 and one post: whole numbers, not '0 0 1 1 2 2 3'
    assert count_ticks(charts["rakkevidde-pr-opslag"].figure.axes[0].yaxis)[-1] == 3
    assert count_ticks(charts["opslag-pr-maaned"].figure.axes[0].yaxis) == [0, 1]
    bars = assert_bars_inside(charts["opslag-pr-maaned"].figure.axes[0])
    assert [bar.get_height() for bar in bars] == [1]
    assert month_labels(charts) == ["dec\n2026"]
    assert date_labels(charts) == ["5. dec kl. 0", "5. dec kl. 6", "5. dec kl. 12", "5. dec kl. 18"]


def test_part_of_one_month_with_two_channels_shows_its_bar(settings: Settings):
    """The case from the issue: the caption said 'flest i dec 2026 med 2 opslag' over an
    empty plot, because the month's bar stood on the 15th, before the period began."""
    publish(settings, "hjemmeside", datetime(2026, 12, 21, 9, tzinfo=UTC), None)
    publish(settings, "kommune-facebook", datetime(2026, 12, 28, 9, tzinfo=UTC), 40)
    charts = drawn(settings, date(2026, 12, 20), date(2026, 12, 31))
    assert_sound(charts)
    month = charts["opslag-pr-maaned"]
    assert month.alt.endswith("flest i dec 2026 med 2 opslag.")
    ax = month.figure.axes[0]
    bars = assert_bars_inside(ax)
    assert sorted(bar.get_height() for bar in bars) == [1, 1]
    x0, x1 = ax.get_xlim()
    assert all(bar.get_width() > 0.1 * (x1 - x0) for bar in bars)  # a bar, not a sliver
    assert [text.get_text() for text in month.figure.legends[0].get_texts()] == [
        "kommune-facebook",  # the stack's top first
        "hjemmeside",
    ]
    # and it shows in the PNG the documents embed: both channels' colours cover real area
    pngs = build_charts(*period(settings, date(2026, 12, 20), date(2026, 12, 31)))
    (chart,) = [c for c in pngs if c.key == "opslag-pr-maaned"]
    pixels = png_pixels(chart.png)
    for colour in (PALETTE[0], PALETTE[1]):
        assert share_of(pixels, colour) > 0.02


def test_first_and_last_months_are_whole_bars(settings: Settings):
    publish(settings, "hjemmeside", datetime(2026, 3, 16, 9, tzinfo=UTC), None)
    publish(settings, "instagram", datetime(2026, 12, 9, 9, tzinfo=UTC), 2)
    charts = drawn(settings, date(2026, 3, 15), date(2026, 12, 10))
    assert_sound(charts)
    ax = charts["opslag-pr-maaned"].figure.axes[0]
    bars = assert_bars_inside(ax)
    widths = {round(bar.get_width(), 6) for bar in ax.patches}
    assert len(bars) == 2
    assert len(widths) == 1  # the same width as every other month
    assert month_labels(charts) == [
        "mar\n2026",
        *("apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"),
    ]


def png_pixels(png: bytes) -> Any:
    import matplotlib.image

    return matplotlib.image.imread(io.BytesIO(png), format="png")


def share_of(pixels: Any, colour: str) -> float:
    """The share of the image's pixels in `colour` (within rounding of the PNG)."""
    import numpy as np
    from matplotlib.colors import to_rgb

    close = np.all(np.abs(pixels[:, :, :3] - np.array(to_rgb(colour))) < 0.02, axis=2)
    return float(close.mean())


# --- dense -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "labels"),
    [
        (date(2026, 1, 1), date(2026, 12, 31), 12),
        (date(2025, 1, 1), date(2026, 12, 31), 8),
    ],
)
def test_a_year_and_two_years_of_history(settings: Settings, start, end, labels):
    seed_history(settings.database_url, first_year=2025, years=2)
    charts = drawn(settings, start, end)
    assert len(charts) == 3
    assert_sound(charts)
    shown = [text for text in month_labels(charts) if text]
    assert len(shown) == labels
    dates = date_labels(charts)  # inside the period: no 'jan 2027' at the right edge
    assert dates[0] == f"jan {start.year}"
    assert dates[-1].endswith("2026")
    assert len(set(shown)) == len(shown)


def many(years: int, channels: int, campaigns: int) -> tuple[Report, list[PostPoint]]:
    """Posts over `years` years on `channels` channels, with long campaign names."""
    rng = random.Random(7)
    names = [f"kanal-{i:02d}" for i in range(channels)]
    start = date(2027 - years, 1, 1)
    points = [
        PostPoint(
            datetime.combine(start, datetime.min.time(), tzinfo=UTC)
            + timedelta(days=rng.randrange(365 * years), hours=rng.randrange(24)),
            rng.choice(names),
            f"kampagne {rng.randrange(campaigns)}",
            rng.randrange(10, 40000),
        )
        for _ in range(300 * years)
    ]
    campaign_groups = {
        f"k{i}": Group(
            name=f"Kampagne {i} om tryghed i Aalborgs gader og på nettet for alle",
            posts=5,
            reach_total=rng.randrange(1000, 2_000_000),
        )
        for i in range(campaigns)
    }
    report = Report(
        start=start,
        end=date(2026, 12, 31),
        timezone="Europe/Copenhagen",
        channels={name: Group(name=name, posts=1) for name in names},
        campaigns=campaign_groups,
        focus_areas={},
        totals=Group(name="I alt", posts=len(points)),
    )
    return report, points


@pytest.mark.parametrize(("years", "channels"), [(1, 20), (3, 12), (10, 20)])
def test_many_months_and_channels(years: int, channels: int):
    report, points = many(years, channels, campaigns=25)
    charts = _drawn(report, points)
    assert len(charts) == 3
    assert_sound(charts)
    ax = charts["opslag-pr-maaned"].figure.axes[0]
    assert len(assert_bars_inside(ax)) > 12 * years  # stacks of many channels each month
    shown = [text for text in month_labels(charts) if text]
    assert 4 <= len(shown) <= 12
    assert len(set(shown)) == len(shown)
    legend = charts["opslag-pr-maaned"].figure.legends[0]
    assert len(legend.get_texts()) == channels
    colours = {bar.get_facecolor() for bar in ax.patches}
    assert len(colours) == channels  # no two channels share a colour


def test_every_png_has_the_same_width_so_the_documents_scale_them_alike(settings: Settings):
    seed_history(settings.database_url, first_year=2025, years=2)
    charts = build_charts(*period(settings, date(2026, 1, 1), date(2026, 12, 31)))
    widths = {png_pixels(chart.png).shape[1] for chart in charts}
    assert widths == {round(WIDTH_IN * DPI)}


# --- in the page -----------------------------------------------------------------------------


@pytest.mark.slow
def test_nothing_is_cut_off_at_the_right_of_a_narrow_window(settings: Settings, tmp_path):
    """Charts, captions and the summary fit the window; a wide table scrolls in its own box
    instead of pushing the page past the right edge."""
    from playwright.sync_api import sync_playwright

    from comms.report.compare import compare
    from comms.report.html import render_html
    from tests.headless import CHROMIUM_ARGS, chromium

    seed_history(settings.database_url, first_year=2025, years=2)
    report, points = period(settings, date(2026, 12, 1), date(2026, 12, 31))
    earlier, _ = period(settings, date(2025, 12, 1), date(2025, 12, 31))
    path = tmp_path / "status.html"
    html = render_html(report, build_charts(report, points), compare(report, earlier))
    path.write_text(html, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        for width in (600, 1100):
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(path.as_uri())
            shown = page.evaluate("document.documentElement.clientWidth")
            assert page.evaluate("document.documentElement.scrollWidth") <= shown
            rights = page.eval_on_selector_all(
                "figure, figure img, figcaption, .summary",
                "els => els.map(e => e.getBoundingClientRect().right)",
            )
            assert len(rights) == 3 * 3 + 2
            assert max(rights) <= shown
            page.close()
        browser.close()
