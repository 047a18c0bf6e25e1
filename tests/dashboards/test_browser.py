"""Real headless Chromium against `tonghu dashboards serve`: sign-in per role, each role's navigation, pages
rendered with data and without browser console errors, a screenshot per page and the first render time of each.

Screenshots and render_times.json go to $TONGHU_TEST_ARTIFACTS (default build/screenshots/). Times are
reported, never asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboards.conftest import PASSWORD, LiveServer, World
from tonghu.dashboards import bench

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("TONGHU_TEST_ARTIFACTS") or Path(__file__).parents[2] / "build" / "screenshots")
RENDER_RUNS = 3


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (shutil.which(bench.CHROMIUM) and shutil.which(bench.CHROMEDRIVER)):
        pytest.fail("Chromium and chromedriver are needed: apt-get install chromium chromium-driver "
                    "(scripts/setup.sh installs them)")
    driver = bench.chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def render_times() -> Iterator[dict[str, Any]]:
    times: dict[str, Any] = {}
    yield times
    if times:
        (ARTIFACTS / "render_times.json").write_text(json.dumps(times, indent=2))
        print("\nfirst render, navigation start → graphs drawn (ms):", json.dumps(times))


def _console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _sign_in(driver: Any, base: str, username: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.get_log("browser")  # only what happens from here on counts
    bench.sign_in(driver, base, username, PASSWORD)


def _open(driver: Any, url: str, ready_selector: str) -> float:
    return bench.render_ms(driver, url, ready_selector)


def _nav_ids(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    return [a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "#nav a.nav-link")]


def test_login_page_renders_cleanly(browser: Any, live_server: LiveServer) -> None:
    browser.get(f"{live_server.url}/fleet")
    assert browser.current_url.startswith(f"{live_server.url}/login?next=/fleet")
    browser.save_screenshot(str(ARTIFACTS / "login.png"))
    assert _console_errors(browser) == []


def test_wrong_password_is_refused_in_the_browser(browser: Any, live_server: LiveServer, world: World) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{live_server.url}/login")
    browser.find_element(By.ID, "username").send_keys(world.users["pm_b"])
    browser.find_element(By.ID, "password").send_keys("not the password")
    browser.find_element(By.ID, "login-submit").click()
    assert "Wrong user name or password" in browser.find_element(By.CSS_SELECTOR, ".alert-danger").text
    assert not browser.find_elements(By.ID, "nav-user")
    # The refused sign-in answers 401, which the browser logs; nothing else may be there.
    errors = _console_errors(browser)
    assert len(errors) == 1 and "/login" in errors[0] and "401" in errors[0], errors


@pytest.mark.parametrize("role", ["admin", "pm_a", "eng_a", "eng_a_site2", "pm_b"])
def test_plant_roles_see_their_fleet(browser: Any, live_server: LiveServer, world: World, role: str,
                                     render_times: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    base = live_server.url
    _sign_in(browser, base, world.users[role])
    nav = _nav_ids(browser)
    assert nav[0] == "nav-home" and "nav-fleet" in nav
    home_ms = _open(browser, f"{base}/", "#home-scope")
    browser.save_screenshot(str(ARTIFACTS / f"{role}-home.png"))
    times = render_times[role] = {"home": round(home_ms)}
    runs = [_open(browser, f"{base}/fleet", "#fleet-updated") for _ in range(RENDER_RUNS)]
    times.update(fleet_first=round(runs[0]), fleet_median=round(statistics.median(runs)))
    browser.save_screenshot(str(ARTIFACTS / f"{role}-fleet.png"))
    table = browser.find_element(By.ID, "fleet-edges").text
    page = browser.page_source
    if role in ("admin", "pm_b"):
        assert world.b.edge in table
    if role in ("pm_a", "eng_a", "eng_a_site2"):
        for secret in (world.b.company, world.b.edge, world.secret_reason):
            assert secret not in page
    if role in ("admin", "pm_a", "eng_a"):
        assert world.a.edge in table and "never reported" in table  # the silent edge's empty state
        assert "opcua-smt" in browser.find_element(By.ID, "fleet-sources").text
        assert "unknown_tag" in browser.find_element(By.ID, "fleet-dead").text
    if role == "eng_a_site2":
        assert world.a.edge not in table and "offline" in table
    if role == "pm_b":
        assert world.a.company not in page and world.a.edge not in page
    assert len(browser.find_elements(By.CSS_SELECTOR, ".dash-graph .js-plotly-plot")) == 2
    assert _console_errors(browser) == []


def test_live_refresh_without_reload(browser: Any, live_server: LiveServer, world: World, db: Any) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    _sign_in(browser, live_server.url, world.users["eng_a"])
    _open(browser, f"{live_server.url}/fleet", "#fleet-updated")
    browser.execute_script("window.__sameDocument = true")

    def status_of_edge(d: Any) -> str:
        # Read in one script: the table is replaced on every refresh, so element handles go stale.
        return str(d.execute_script(
            "return [...document.querySelectorAll('#fleet-edges tbody tr')].map(r => r.innerText)"
            ".find(t => t.includes(arguments[0])) || ''", world.a.edge))

    assert "online" in status_of_edge(browser)
    db.execute("UPDATE edges SET status = 'offline', status_at = now() WHERE id = %s", (world.a.edge_id,))
    try:
        # The default refresh interval is 10 s; the new status must appear in the same document.
        WebDriverWait(browser, 30).until(lambda d: "offline" in status_of_edge(d))
        assert browser.execute_script("return window.__sameDocument === true")
    finally:
        db.execute("UPDATE edges SET status = 'online', status_at = now() WHERE id = %s", (world.a.edge_id,))
    assert _console_errors(browser) == []


def test_analyst_never_sees_plant_pages(browser: Any, live_server: LiveServer, world: World,
                                        render_times: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    base = live_server.url
    _sign_in(browser, base, world.users["analyst"])
    assert _nav_ids(browser)[0] == "nav-home" and "nav-fleet" not in _nav_ids(browser)
    render_times["analyst"] = {"home": round(_open(browser, f"{base}/", "#home-scope"))}
    assert "Sector: electronics" in browser.find_element(By.ID, "home-scope").text
    browser.save_screenshot(str(ARTIFACTS / "analyst-home.png"))
    for path in ("fleet",):  # typed into the address bar: the page refuses, the shell stays
        browser.get(f"{base}/{path}")
        refusal = WebDriverWait(browser, 30).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, ".alert-warning")))
        assert "not available to your role" in refusal.text
        browser.save_screenshot(str(ARTIFACTS / f"analyst-{path}-refused.png"))
        page = browser.page_source
        assert not browser.find_elements(By.CSS_SELECTOR, ".dash-graph")
        for secret in (world.a.edge, world.b.edge, world.a.company, world.b.company):
            assert secret not in page
    assert _console_errors(browser) == []


def test_sign_out_ends_the_session(browser: Any, live_server: LiveServer, world: World) -> None:
    from selenium.webdriver.common.by import By

    _sign_in(browser, live_server.url, world.users["pm_a"])
    browser.find_element(By.ID, "logout-button").click()
    assert "/login" in browser.current_url
    browser.get(f"{live_server.url}/fleet")
    assert "/login" in browser.current_url
