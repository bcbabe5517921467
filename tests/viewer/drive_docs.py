"""Drives the docs page in headless Chromium, as a person would.

Usage: drive_docs.py BASE_URL EXPECTED_OPERATIONS

Opens BASE_URL/api/v1/docs/, waits until Swagger UI has rendered every
operation, opens `GET /api/v1/health/`, presses "Try it out" and "Execute",
and reads the status the page shows. Prints one JSON object (operations
rendered, the status shown, the browser console's errors) and exits 0; any
step that does not happen within its time fails with a message naming it.
"""

import json
import sys

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

STEP_SECS = 30

# Flags that keep a headless Chromium to itself: no sandbox (containers run
# as root), no GPU, nothing fetched from the internet behind our back.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


def step(driver, what, condition):
    try:
        return WebDriverWait(driver, STEP_SECS).until(condition)
    except TimeoutException:
        raise SystemExit(f"timed out after {STEP_SECS}s waiting for {what}; page text: {driver.find_element(By.TAG_NAME, 'body').text[:2000]!r}")


def main():
    base, expected = sys.argv[1].rstrip("/"), int(sys.argv[2])
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(STEP_SECS)
    try:
        driver.get(f"{base}/api/v1/docs/")
        step(driver, f"{expected} rendered operations", lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= expected)
        operations = len(driver.find_elements(By.CSS_SELECTOR, ".opblock"))

        health = step(driver, "the health operation", ready.element_to_be_clickable((By.CSS_SELECTOR, "#operations-health-getHealth .opblock-summary-control")))
        health.click()
        step(driver, "Try it out", ready.element_to_be_clickable((By.CSS_SELECTOR, "#operations-health-getHealth .try-out__btn"))).click()
        step(driver, "Execute", ready.element_to_be_clickable((By.CSS_SELECTOR, "#operations-health-getHealth .execute"))).click()
        status_cell = step(
            driver,
            "the live response's status",
            ready.visibility_of_element_located((By.CSS_SELECTOR, "#operations-health-getHealth .live-responses-table .response .response-col_status")),
        )
        status = status_cell.text.strip()
        url = driver.find_element(By.CSS_SELECTOR, "#operations-health-getHealth .request-url pre").text.strip()
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        print(json.dumps({"operations": operations, "status": status, "request_url": url, "console_errors": errors}))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
