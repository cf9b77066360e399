"""Open a page in real headless Chromium (Debian's `chromium`) through the DevTools
protocol: the rendered text (document.body.innerText) and a full-page PNG screenshot.

Nothing leaves the machine: the pages are files, every host name resolves to nothing
(--host-resolver-rules) and any request would go to a dead loopback proxy; background
networking (updates, metrics, sync) is off. DevTools listens on 127.0.0.1 only."""
import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import websocket  # websocket-client, a dependency of the kubernetes client

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking", "--disable-sync",
         "--disable-component-update", "--disable-default-apps", "--disable-extensions",
         "--disable-domain-reliability", "--metrics-recording-only", "--mute-audio",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page(object):
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError("%s: %s" % (method, message["error"]))
                return message.get("result", {})

    def wait_event(self, name, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("method") == name:
                return message
        raise TimeoutError(name)


def open_page(path, screenshot, width=1100, timeout=60):
    """(innerText, PNG bytes) of the file at ``path``; the PNG is also written to
    ``screenshot``."""
    profile = tempfile.mkdtemp(prefix="pd-chromium-")
    proc = subprocess.Popen([chromium(), *FLAGS, "--user-data-dir=" + profile,
                             "--window-size=%d,900" % width, "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start (exit %s)" % proc.poll())
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=10) as r:
            target = [t for t in json.loads(r.read()) if t["type"] == "page"][0]
        ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=timeout,
                                         suppress_origin=True)
        try:
            page = Page(ws)
            page.call("Page.enable")
            page.call("Page.navigate", url=Path(path).resolve().as_uri())
            page.wait_event("Page.loadEventFired", timeout)
            text = page.call("Runtime.evaluate", expression="document.body.innerText",
                             returnByValue=True)["result"]["value"]
            size = page.call("Page.getLayoutMetrics")["cssContentSize"]
            page.call("Emulation.setDeviceMetricsOverride", width=width,
                      height=int(size["height"]) + 1, deviceScaleFactor=1, mobile=False)
            png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
        finally:
            ws.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    Path(screenshot).write_bytes(png)
    return text, png


def png_size(png):
    """(width, height) from the PNG header."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
