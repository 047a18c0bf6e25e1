"""The analytics pages in real headless Chromium against `tonghu dashboards serve`, with the harness of
test_browser.py: each page signed in as a user of its audience, drawn with the test plant's data, without browser
console errors and without another tenant's names; a screenshot each, and the first render time of each page in
$TONGHU_TEST_ARTIFACTS/render_times_pages.json (reported, never asserted)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from tests.dashboards.conftest import LiveServer
from tests.dashboards.test_browser import ARTIFACTS, RENDER_RUNS, _console_errors, _open, _sign_in
from tests.dashboards.test_pages_plant import PagesWorld

pytestmark = pytest.mark.slow
# The browser comes from test_browser.py, the plant and its users from test_pages_plant.py.
pytest_plugins = ["tests.dashboards.test_pages_plant", "tests.dashboards.test_browser"]

# path, "rendered" marker, user, graphs expected at least, text the page must show
PAGES = [
    ("plant", "#plant-updated", "pm_a", 5, "smt/l1"),
    ("machine", "#machine-updated", "eng_a", 6, "Lines and machines"),
    ("sector", "#sector-updated", "pm_p", 4, "Petrochemical: process units"),
    ("benchmarks", "#bench-updated", "analyst", 2, "All metrics of the month"),
]


@pytest.fixture(scope="module")
def page_times() -> Iterator[dict[str, Any]]:
    times: dict[str, Any] = {}
    yield times
    if times:
        (ARTIFACTS / "render_times_pages.json").write_text(json.dumps(times, indent=2))
        print("\nanalytics pages, navigation start → graphs drawn (ms):", json.dumps(times))


@pytest.mark.parametrize(("path", "marker", "who", "graphs", "shown"), PAGES)
def test_page_renders_with_data(browser: Any, live_server: LiveServer, pages: PagesWorld, page_times: dict[str, Any],
                                path: str, marker: str, who: str, graphs: int, shown: str) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, live_server.url, pages.users[who])
    assert f"nav-{path}" in [a.get_attribute("id") for a in browser.find_elements(By.CSS_SELECTOR, "#nav a")]
    runs = [_open(browser, f"{live_server.url}/{path}", marker) for _ in range(RENDER_RUNS)]
    page_times[path] = {"user": who, "first": round(runs[0]), "median": round(statistics.median(runs))}
    browser.save_screenshot(str(ARTIFACTS / f"pages-{path}.png"))
    drawn = browser.find_elements(By.CSS_SELECTOR, ".dash-graph .js-plotly-plot .main-svg")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".dash-graph")) >= graphs and drawn
    body = browser.find_element(By.TAG_NAME, "body").text
    assert shown in body and "Loading…" not in body
    assert _console_errors(browser) == []


def test_plant_overview_shows_only_the_users_company(browser: Any, live_server: LiveServer, pages: PagesWorld,
                                                     db: Any) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, live_server.url, pages.users["pm_a"])
    _open(browser, f"{live_server.url}/plant", "#plant-updated")
    others = [r[0] for r in db.execute("SELECT name FROM companies WHERE id = ANY (%s)",
                                       ([pages.b_company, pages.p_company],))]
    page = browser.page_source
    assert others and not any(name in page for name in others)
    tiles = browser.find_element(By.ID, "plant-live").text
    assert "smt/l1" in tiles and "MS-JAM" in tiles  # line 1 has been jammed since the end of its data
