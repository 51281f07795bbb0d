"""The operators' dashboard in a real browser: headless Chromium from Debian's packages, driven by
Selenium, against the launched suite's gateway (`/ops`). An admin logs in at the page's own form,
the tiles show the figures of the orders placed so far, an order confirmed while the page is open
shows within 5 seconds, the lag panel lists the services' consumer groups, and the language
switch turns the page from Chinese to English.

Chromium is not optional here: without it the test fails (`.ci/run` installs it), so a CI run
can never pass with the page untested.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from .conftest import Storefront, eventually

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PRICE = 5_000  # CNY fen
CONFIRMED_TO_SHOWN_SECONDS = 5.0  # the promise for a confirmed order
# Where to copy the screenshot besides the test's own directory (the README's is made so).
SCREENSHOT_COPY = "DASHBOARD_SCREENSHOT"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"no {' or '.join(missing)}: apt-get install -y chromium chromium-driver "
            "(.ci/run does it when they are missing)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The machine has no internet: nothing that phones home, a profile of its own per test.
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1400,1250",
    ):
        options.add_argument(flag)
    # The system's chromedriver, named: Selenium Manager must not try to download one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def tile(driver: WebDriver, name: str) -> tuple[str | None, str]:
    """A tile's exact figure (its data-value: fen or a count) and the text the operator sees."""
    element = driver.find_element(By.ID, f"tile-{name}")
    return element.get_attribute("data-value"), element.find_element(By.CLASS_NAME, "value").text


def lag_groups(driver: WebDriver) -> list[str]:
    """The group named in each row of the consumer-lag panel."""
    cells = driver.find_elements(By.CSS_SELECTOR, "#consumer-lag tbody tr td:first-child")
    return [cell.text for cell in cells]


def wait_for(
    driver: WebDriver, seconds: float, what: str, check: Callable[[WebDriver], bool]
) -> None:
    WebDriverWait(driver, seconds, poll_frequency=0.05).until(
        check, message=f"the page did not show {what} within {seconds} s"
    )


async def test_the_dashboard_in_a_real_browser(
    storefront: Storefront, browser: WebDriver, tmp_path: Path
) -> None:
    shop = storefront
    sku = await shop.product(price=PRICE, stock=10, name="Longjing")
    member = await shop.register("Lin")
    await shop.add_to_cart(member, sku)
    first = await shop.place_accepted(member, sku, quantity=2)
    await shop.settled(member, first, "payment.payment.captured")
    declined = await shop.place_accepted(member, sku, payment_token="tok_chargeDeclined")
    await shop.settled(member, declined, "inventory.stock.released")

    # Analytics has the first order (2 x 5000 paid) and the declined one before the page opens,
    # so what the tiles must show is known: GMV 10000 fen, 1 order paid of 2 placed.
    async def today() -> dict[str, int]:
        answer = await shop.http.get("/api/v1/admin/analytics/dashboard", headers=shop.admin)
        assert answer.status_code == 200, answer.text
        totals: dict[str, int] = answer.json()["kpis"]["totals"]
        return totals

    def tiles(t: dict[str, int]) -> tuple[int, int, int]:
        return t["gmv"], t["orders_paid"], t["orders_placed"]

    # Wait for every figure: they come from events on several topics, applied in no set order.
    totals = await eventually(today, lambda t: tiles(t) == (10_000, 1, 2))
    assert tiles(totals) == (10_000, 1, 2)

    browser.get(f"{shop.suite.gateway}/ops")
    wait_for(browser, 10, "the form", lambda d: d.find_element(By.ID, "login").is_displayed())
    browser.find_element(By.CSS_SELECTOR, "button.lang[data-lang='zh-CN']").click()
    browser.find_element(By.ID, "email").send_keys(shop.suite.admin_email)
    browser.find_element(By.ID, "password").send_keys(shop.suite.admin_password)
    browser.find_element(By.ID, "login-submit").click()
    wait_for(browser, 10, "GMV 10000 fen", lambda d: tile(d, "gmv")[0] == "10000")
    assert tile(browser, "gmv") == ("10000", "¥100.00")
    assert tile(browser, "orders") == ("1", "1")
    assert tile(browser, "aov")[0] == "10000"
    assert tile(browser, "members")[0] == "1"
    assert browser.find_element(By.CSS_SELECTOR, "#tile-gmv .label").text == "成交总额"
    assert "支付被拒" in browser.find_element(By.ID, "chart-status").text  # rejected, by reason
    products = browser.find_element(By.ID, "top-products").text
    assert f"Longjing {sku}" in products and "¥100.00" in products
    # The lag panel: each consuming service's group as the broker has it (end offset minus
    # committed offset), so an operator sees which service falls behind.
    wait_for(browser, 15, "the consumer groups", lambda d: "inventory" in lag_groups(d))
    assert {"order", "inventory", "payment", "analytics"} <= set(lag_groups(browser))
    assert browser.find_element(By.ID, "lag-error").text == ""
    # The token is kept for the tab only.
    assert browser.execute_script("return sessionStorage.getItem('ops.token')")
    assert not browser.execute_script("return localStorage.getItem('ops.token')")

    # A new order, confirmed while the page is open: the tiles follow within 5 s of its
    # confirmation (the time order wrote in its timeline), with no reload.
    second = await shop.place_accepted(member, sku)
    wait_for(browser, 30, "the second order", lambda d: tile(d, "orders")[0] == "2")
    shown_at = datetime.now().astimezone()
    order = await shop.settled(member, second, "payment.payment.captured")
    (confirmed,) = [e for e in order["timeline"] if e["type"] == "order.order.confirmed"]
    delay = (shown_at - datetime.fromisoformat(confirmed["at"])).total_seconds()
    assert delay <= CONFIRMED_TO_SHOWN_SECONDS, f"shown {delay:.1f} s after confirmation"
    assert tile(browser, "gmv") == ("15000", "¥150.00")
    assert tile(browser, "refunds")[0] == "0"

    # The language switch: every label from the dictionary, money in the English format.
    browser.find_element(By.CSS_SELECTOR, "button.lang[data-lang='en']").click()
    html = browser.find_element(By.TAG_NAME, "html")
    wait_for(browser, 5, "English", lambda _: html.get_attribute("lang") == "en")
    assert browser.find_element(By.CSS_SELECTOR, "#tile-gmv .label").text == "GMV"
    assert browser.find_element(By.CSS_SELECTOR, "#tile-orders .label").text == "Orders paid"
    assert tile(browser, "gmv") == ("15000", "CN¥150.00")
    assert browser.title == "Live operations dashboard"
    assert "Records behind" in browser.find_element(By.ID, "consumer-lag").text
    assert "payment declined" in browser.find_element(By.ID, "chart-status").text
    # The last 7 days, by day: the same orders (all of today), one column per day.
    Select(browser.find_element(By.ID, "period")).select_by_value("7")
    wait_for(
        browser, 5, "GMV by day", lambda d: d.find_element(By.ID, "gmv-title").text == "GMV by day"
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, "#chart-gmv rect")) == 7
    assert tile(browser, "gmv")[0] == "15000"
    Select(browser.find_element(By.ID, "period")).select_by_value("1")
    wait_for(
        browser,
        5,
        "GMV by hour",
        lambda d: d.find_element(By.ID, "gmv-title").text == "GMV by hour",
    )
    await asyncio.sleep(1.5)  # past the tiles' highlight of the change, for a calm picture

    screenshot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    if copy := os.environ.get(SCREENSHOT_COPY):
        shutil.copyfile(screenshot, copy)
    print(f"dashboard screenshot: {screenshot}")
