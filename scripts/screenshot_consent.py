"""Screenshot the Demo Ads consent page in headless Chromium: docs/screenshots/sandbox-consent.png.

Usage: python scripts/screenshot_consent.py [out.png]
Starts the sandbox on a free loopback port, opens a real authorization request and saves the
page as a person would see it.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from backend.sandbox.app import create_sandbox_app
from backend.sandbox.config import SandboxConfig
from backend.sandbox.pkce import s256

DEFAULT_OUT = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "sandbox-consent.png"
)


def chromium(profile: str, width: int = 1100, height: int = 800) -> webdriver.Chrome:
    """Debian's headless Chromium with a throwaway profile and no background traffic."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    # Headless windows lose some height to invisible chrome; pin the viewport itself.
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return driver


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else DEFAULT_OUT
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_sandbox_app(SandboxConfig()), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline:
                print("The sandbox did not start.", file=sys.stderr)
                return 1
            time.sleep(0.02)
        params = {
            "response_type": "code",
            "client_id": "demo-desktop",
            "redirect_uri": "http://127.0.0.1:53682/callback",
            "state": "screenshot",
            "code_challenge": s256("screenshot-" + "v" * 40),
            "code_challenge_method": "S256",
            "scope": "ads_read ads_management",
        }
        url = f"http://127.0.0.1:{port}/authorize?{urlencode(params)}"
        with tempfile.TemporaryDirectory(prefix="consent-shot-") as profile:
            driver = chromium(profile)
            try:
                driver.get(url)
                WebDriverWait(driver, 20).until(
                    expected_conditions.presence_of_element_located(
                        (By.CSS_SELECTOR, "button.primary")
                    )
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                if not driver.save_screenshot(str(out)):
                    print(f"Chromium could not save {out}.", file=sys.stderr)
                    return 1
            finally:
                driver.quit()
        print(out)
        return 0
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
