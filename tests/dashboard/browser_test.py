#!/usr/bin/python3
"""The operator dashboard in a real browser against the real orchestrator.

Runs the embedded demo (c4i-demo: orchestrator, simulator, discovery daemons,
functions) with an operator and a viewer token, drives Debian's chromium
(headless) through chromium-driver with python3-selenium, and checks:
  - the page loads and signs in with no console errors;
  - a roam appears on the page (the function on its new gateway, the roam in
    the migration list) within a second of its event on /v1/watch;
  - a move by the Move button and a move by dragging work (checked over REST);
  - a policy the API rejects shows the API's message at the field it names;
  - a viewer sees everything and cannot move (no button, no drag; 403 over REST).
Screenshots go to --artifacts. Prints a closing 'N passed, N failed' line.
Run with Debian's python (/usr/bin/python3): python3-selenium lives there.
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import queue
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

ROAM_LATENCY_LIMIT_S = 1.0


def wait_until(pred, timeout_s, what, poll_s=0.05):
    """Polls pred() until it returns something truthy; fails naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout_s, what))
        time.sleep(poll_s)


class Rest:
    """A tiny HTTPS client of the orchestrator's REST API (one token)."""

    def __init__(self, port, ca_file, token):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def call(self, method, path, body=None, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        h = {"Authorization": "Bearer " + self.token}
        h.update(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, parsed, raw, dict((k.lower(), v) for k, v in r.getheaders())

    def get(self, path):
        status, body, raw, _ = self.call("GET", path)
        if status != 200:
            raise AssertionError("GET %s: HTTP %d %s" % (path, status, raw[:200]))
        return body


class Watcher(threading.Thread):
    """Reads GET /v1/watch and records each function event with the time it arrived."""

    def __init__(self, rest):
        super().__init__(daemon=True)
        self.rest = rest
        self.events = queue.Queue()
        self.stop = False

    def run(self):
        conn = http.client.HTTPSConnection("127.0.0.1", self.rest.port, context=self.rest.ctx, timeout=60)
        conn.request("GET", "/v1/watch?kinds=functions,migrations", headers={"Authorization": "Bearer " + self.rest.token})
        r = conn.getresponse()
        data = []
        while not self.stop:
            line = r.fp.readline()
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                try:
                    self.events.put((time.monotonic(), json.loads("\n".join(data))))
                except ValueError:
                    pass
                data = []


class Demo:
    """c4i-demo --forever in its own directory; stopped with SIGTERM like Ctrl-C."""

    def __init__(self, args, work, tokens):
        self.dir = os.path.join(work, "demo")
        self.log_path = os.path.join(work, "demo.out")
        cmd = [args.demo, "--dir", self.dir, "--bin-dir", args.bin_dir, "--source-dir", args.source_dir,
               "--forever", "--speed", str(args.speed)]
        for name, role, token in tokens:
            cmd += ["--token", "%s:%s:%s" % (name, role, hashlib.sha256(token.encode()).hexdigest())]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = os.path.join(self.dir, "port")

        def port():
            if self.proc.poll() is not None:
                raise AssertionError("c4i-demo exited early:\n" + open(self.log_path).read())
            return os.path.exists(port_file) and open(port_file).read().strip()
        self.port = int(wait_until(port, 60, "the orchestrator's port file"))
        self.ca = os.path.join(self.dir, "pki", "ca.pem")

    def spki_sha256(self):
        """Base64 sha256 of the server key: the one certificate the browser is told to accept."""
        pem = os.path.join(self.dir, "pki", "server.pem")
        pub = subprocess.run(["openssl", "x509", "-in", pem, "-noout", "-pubkey"], check=True, capture_output=True).stdout
        der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub, check=True, capture_output=True).stdout
        return base64.b64encode(hashlib.sha256(der).digest()).decode()

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class BrowserTest:
    def __init__(self, args):
        self.args = args
        self.results = []
        self.work = tempfile.mkdtemp(prefix="c4i-dashboard-")
        os.makedirs(args.artifacts, exist_ok=True)
        for f in os.listdir(args.artifacts):
            if f.endswith(".png"):
                os.remove(os.path.join(args.artifacts, f))
        self.tokens = {"operator": ("olivia", "operator", secrets.token_hex(16)),
                       "viewer": ("vera", "viewer", secrets.token_hex(16))}
        self.demo = None
        self.driver = None
        self.console = []   # every browser log entry read so far

    # ---------------------------------------------------------------- plumbing
    def start(self):
        self.demo = Demo(self.args, self.work, list(self.tokens.values()))
        self.url = "https://127.0.0.1:%d/" % self.demo.port
        self.op = Rest(self.demo.port, self.demo.ca, self.tokens["operator"][2])
        self.viewer_rest = Rest(self.demo.port, self.demo.ca, self.tokens["viewer"][2])
        wait_until(lambda: self.op.call("GET", "/readyz")[0] == 200, 30, "the orchestrator to be ready")
        wait_until(lambda: len(self.op.get("/v1/functions")["items"]) >= 3, 30, "the demo's three functions")
        self.watcher = Watcher(self.op)
        self.watcher.start()

        opts = webdriver.ChromeOptions()
        opts.binary_location = self.args.chromium
        for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1600,1250",
                  "--user-data-dir=" + os.path.join(self.work, "profile"), "--no-first-run", "--disable-extensions",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # Trust exactly the demo's server key (its CA is not in the system store), nothing more.
                  "--ignore-certificate-errors-spki-list=" + self.demo.spki_sha256()]:
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=self.args.chromedriver), options=opts)
        self.driver.set_page_load_timeout(30)

    def stop(self):
        if self.driver:
            try:
                self.driver.quit()
            except Exception:
                pass
        if hasattr(self, "watcher"):
            self.watcher.stop = True
        if self.demo:
            self.demo.stop()
            shutil.copy(self.demo.log_path, os.path.join(self.args.artifacts, "demo.out"))
            for name in ("orchestrator.log",):
                p = os.path.join(self.demo.dir, "logs", name)
                if os.path.exists(p):
                    shutil.copy(p, os.path.join(self.args.artifacts, name))
        shutil.rmtree(self.work, ignore_errors=True)

    def shot(self, name):
        path = os.path.join(self.args.artifacts, name + ".png")
        self.driver.save_screenshot(path)
        return path

    def read_console(self):
        entries = self.driver.get_log("browser")
        self.console += entries
        return entries

    def severe(self, entries, allowed=()):
        bad = []
        for e in entries:
            if e.get("level") != "SEVERE":
                continue
            if any(a in e.get("message", "") for a in allowed):
                continue
            bad.append(e)
        return bad

    def css(self, sel):
        return self.driver.find_elements(By.CSS_SELECTOR, sel)

    def wait_css(self, sel, timeout_s, what=None, poll_s=0.02):
        try:
            return WebDriverWait(self.driver, timeout_s, poll_frequency=poll_s).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, sel) or False)
        except TimeoutException:
            raise AssertionError("timed out after %.1f s waiting for %s (%s)" % (timeout_s, what or sel, sel))

    def check(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
            self.results.append((name, True, None))
            print("PASS %-40s %.1f s" % (name, time.monotonic() - t0), flush=True)
        except Exception as e:  # one failed check does not hide the others
            self.results.append((name, False, e))
            print("FAIL %-40s %s" % (name, e), flush=True)
            traceback.print_exc()
            try:
                self.shot("fail-" + name)
            except Exception:
                pass

    def sign_in(self, who):
        d = self.driver
        if not self.css("#sign-in:not([hidden])"):
            d.find_element(By.ID, "sign-out").click()
        self.wait_css("#sign-in:not([hidden])", 5, "the sign-in form")
        tok = d.find_element(By.ID, "token")
        tok.clear()
        tok.send_keys(self.tokens[who][2])
        d.find_element(By.ID, "sign-in-submit").click()
        self.wait_css("#app:not([hidden])", 10, "the dashboard after sign-in")
        self.wait_css("#live.on", 10, "the watch stream to be live")
        wait_until(lambda: len(self.css("[data-node]")) >= 5 and len(self.css("[data-function]")) >= 3, 10,
                   "5 nodes and 3 functions on the page")
        who_text = d.find_element(By.ID, "who").text
        assert self.tokens[who][0] in who_text and self.tokens[who][1] in who_text, who_text

    def node_of(self, fn):
        return self.op.get("/v1/functions/" + fn)["node"]

    def wait_quiet(self, fn, timeout_s=30):
        """Until `fn` runs and has no open migration (a move then is not refused as busy)."""
        def quiet():
            f = self.op.get("/v1/functions/" + fn)
            open_ = [m for m in self.op.get("/v1/migrations?function=%s&limit=1000" % fn)["items"]
                     if m["state"] in ("pending", "applying")]
            return f["state"] == "running" and f["node"] and not open_ and f
        return wait_until(quiet, timeout_s, fn + " running with no open migration", poll_s=0.2)

    # ---------------------------------------------------------------- checks
    def page_loads_without_console_errors(self):
        d = self.driver
        d.get(self.url)
        self.wait_css("#sign-in:not([hidden])", 10, "the sign-in form")
        assert d.title == "Cloud4IoT dashboard", d.title
        self.shot("01-sign-in")
        bad = self.severe(self.read_console())
        assert not bad, "console errors while loading: %s" % bad
        self.sign_in("operator")
        # Every gateway shows CPU and memory bars, with the policy's watermarks on them.
        bars = self.css('[data-node="gw-3"] .bar')
        assert len(bars) == 2, "gw-3 has %d bars" % len(bars)
        wait_until(lambda: self.css('[data-node="gw-3"] .bar .mark.high') and
                   self.css('[data-node="gw-3"] .bar .mark.high')[0].is_displayed(), 5, "gw-3's high watermark mark")
        self.wait_css("[data-node^='gw-'] .device", 10, "a device near a gateway, with its RSSI")
        chip = self.css("[data-node^='gw-'] .device")[0].text
        assert "dBm" in chip, chip
        self.shot("02-signed-in")
        bad = self.severe(self.read_console())
        assert not bad, "console errors after sign-in: %s" % bad

    def roam_appears_within_a_second(self):
        # The functions' nodes now; then the first heart-rate function whose node changes is a roam.
        last = {f["id"]: f["node"] for f in self.op.get("/v1/functions")["items"]}
        deadline = time.monotonic() + 90
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no roam within 90 s")
            try:
                t_event, ev = self.watcher.events.get(timeout=left)
            except queue.Empty:
                continue
            o = ev.get("object") or {}
            if ev.get("kind") != "functions" or not o.get("id", "").startswith("hr-"):
                continue
            before, now = last.get(o["id"]), o.get("node")
            if now:
                last[o["id"]] = now
            if before and now and before != now:
                break
        fn, to = o["id"], o["node"]
        card = '[data-node="%s"] [data-function="%s"]' % (to, fn)
        left = max(0.05, ROAM_LATENCY_LIMIT_S - (time.monotonic() - t_event))
        self.wait_css(card, left, "%s on %s within %.1f s of its event" % (fn, to, ROAM_LATENCY_LIMIT_S))
        latency = time.monotonic() - t_event
        self.shot("03-roam")
        print("     roam %s %s -> %s shown %.0f ms after its event reached the test" % (fn, before, to, latency * 1000))
        assert latency <= ROAM_LATENCY_LIMIT_S, latency
        # The roam itself is in the migration list with its timeline.
        row = 'tr[data-kind="roam"][data-function="%s"]' % fn
        self.wait_css(row, ROAM_LATENCY_LIMIT_S, "the roam of %s in the migration list" % fn)
        assert self.css(row + " .tl .seg"), "the roam's timeline bar has no steps"
        self.wait_css(row, 1)
        wait_until(lambda: len(self.css("#chart-durations circle")) > 0, 5, "a duration dot in the chart")

    def move_by_button(self):
        f = self.wait_quiet("engine-7")
        target = "cloud-1" if f["node"] != "cloud-1" else "edge-1"
        d = self.driver
        self.css('[data-function="engine-7"] button[data-action="move"]')[0].click()
        self.wait_css("#move-dialog:not([hidden])", 5, "the move dialog")
        Select(d.find_element(By.ID, "move-target")).select_by_value("node:" + target)
        self.shot("04-move-dialog")
        d.find_element(By.ID, "move-submit").click()
        wait_until(lambda: self.node_of("engine-7") == target, 20, "engine-7 on %s (REST)" % target, poll_s=0.1)
        migs = self.op.get("/v1/migrations?function=engine-7&kind=manual")["items"]
        assert any(m["requested_by"] == self.tokens["operator"][0] and m["to"]["node"] == target for m in migs), migs
        assert self.op.get("/v1/functions/engine-7")["pinned"] is True
        self.wait_css('[data-node="%s"] [data-function="engine-7"]' % target, 5, "engine-7 drawn on " + target)
        self.shot("05-moved-by-button")

    def drag_hold(self, card, target):
        """Presses on `card`, moves onto `target` in steps; the caller releases."""
        a = ActionChains(self.driver, duration=50)
        a.click_and_hold(card).move_by_offset(12, 8).move_to_element(target).move_by_offset(0, 2)
        a.perform()

    def move_by_drag(self):
        f = self.wait_quiet("engine-7")
        target = "edge-1" if f["node"] != "edge-1" else "cloud-1"
        card = self.css('[data-function="engine-7"] .fn-device')[0]
        node = self.css('[data-node="%s"] .node-head' % target)[0]
        self.drag_hold(card, node)
        assert self.css(".ghost"), "no drag ghost follows the pointer"
        assert self.css('[data-node="%s"].drop' % target), "the node under the pointer is not highlighted"
        self.shot("06-dragging")
        ActionChains(self.driver).release().perform()
        wait_until(lambda: self.node_of("engine-7") == target, 20, "engine-7 on %s after the drag (REST)" % target, poll_s=0.1)
        self.wait_css('[data-node="%s"] [data-function="engine-7"]' % target, 5, "engine-7 drawn on " + target)
        assert not self.css(".ghost"), "the ghost stayed after the drop"

    def policy_error_at_field(self):
        d = self.driver
        before = self.op.get("/v1/policy")["version"]
        field = "tiers.gateway.cpu_low"
        inp = d.find_element(By.CSS_SELECTOR, '[data-field="%s"]' % field)
        inp.clear()
        inp.send_keys("0.95")
        d.find_element(By.ID, "policy-save").click()
        err = '[data-error-for="%s"]' % field
        wait_until(lambda: self.css(err)[0].text, 5, "the error at " + field)
        text = self.css(err)[0].text
        assert "must not be above cpu_high" in text, text
        assert inp.get_attribute("aria-invalid") == "true"
        # Next to the field: the same cell holds the input and its message.
        same_cell = d.execute_script(
            "return arguments[0].parentElement === arguments[1].parentElement", inp, self.css(err)[0])
        assert same_cell, "the message is not beside its field"
        assert self.css("#policy-error")[0].text == "", "the error went to the form, not the field"
        self.shot("07-policy-error")
        assert self.op.get("/v1/policy")["version"] == before, "a rejected policy was stored"
        # A valid change goes through, as the operator, and clears the error.
        d.find_element(By.ID, "policy-reset").click()
        cd = d.find_element(By.CSS_SELECTOR, '[data-field="cooldown_s"]')
        cd.clear()
        cd.send_keys("7")
        d.find_element(By.ID, "policy-save").click()
        wait_until(lambda: self.op.get("/v1/policy")["version"] == before + 1, 10, "the new policy version (REST)", poll_s=0.1)
        p = self.op.get("/v1/policy")
        assert p["policy"]["cooldown_s"] == 7 and p["changed_by"] == self.tokens["operator"][0], p
        wait_until(lambda: "version %d" % (before + 1) in self.css("#policy-version")[0].text, 5, "the new version on the page")
        assert self.css(err)[0].text == ""

    def viewer_cannot_move(self):
        self.sign_in("viewer")
        buttons = self.css('button[data-action="move"]')
        assert buttons and not any(b.is_displayed() for b in buttons), "a viewer sees Move buttons"
        assert all(not i.is_enabled() for i in self.css("#policy-form [data-field]")), "a viewer can edit the policy"
        assert not self.css("#policy-save")[0].is_displayed(), "a viewer sees Save"
        fn = "hr-patient-a"
        card = self.css('[data-function="%s"] .fn-device' % fn)[0]
        node = self.css('[data-node="cloud-1"] .node-head')[0]
        self.drag_hold(card, node)
        assert not self.css(".ghost"), "a viewer's drag started"
        ActionChains(self.driver).release().perform()
        self.shot("08-viewer")
        # The API refuses a viewer's move too (the page is not the only guard).
        status, body, _, _ = self.viewer_rest.call("POST", "/v1/functions/%s:move" % fn, {"node": "cloud-1"})
        assert status == 403, (status, body)
        assert not [m for m in self.op.get("/v1/migrations?function=%s&kind=manual" % fn)["items"]], "a viewer moved " + fn

    def no_unexpected_console_errors(self):
        self.read_console()
        # The one expected error: the browser logs the 400 of the policy the API rejected.
        bad = self.severe(self.console, allowed=("/v1/policy - Failed to load resource: the server responded with a status of 400",))
        assert not bad, "console errors: %s" % json.dumps(bad, indent=1)

    def page_weight(self):
        total = 0
        parts = []
        for path in ["/", "/ui/app.js", "/ui/style.css", "/ui/favicon.svg"]:
            status, _, raw, _ = self.op.call("GET", path)
            assert status == 200, path
            total += len(raw)
            parts.append("%s %.1f KB" % (path, len(raw) / 1024))
        print("     page weight %.1f KB (%s)" % (total / 1024, ", ".join(parts)))

    def run(self):
        try:
            self.start()
            self.check("page_loads_without_console_errors", self.page_loads_without_console_errors)
            self.check("roam_appears_within_a_second", self.roam_appears_within_a_second)
            self.check("move_by_button", self.move_by_button)
            self.check("move_by_drag", self.move_by_drag)
            self.check("policy_error_at_field", self.policy_error_at_field)
            self.check("viewer_cannot_move", self.viewer_cannot_move)
            self.check("no_unexpected_console_errors", self.no_unexpected_console_errors)
            self.check("page_weight", self.page_weight)
        except Exception as e:
            traceback.print_exc()
            self.results.append(("setup", False, e))
        finally:
            self.stop()
        passed = sum(1 for r in self.results if r[1])
        failed = len(self.results) - passed
        print("screenshots in %s" % self.args.artifacts)
        print("%d passed, %d failed" % (passed, failed))
        return 0 if failed == 0 and passed > 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", required=True, help="the c4i-demo binary")
    ap.add_argument("--bin-dir", required=True, help="build tree with the binaries")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--artifacts", required=True, help="where screenshots and logs go")
    ap.add_argument("--speed", type=float, default=5.0, help="scenario seconds per second")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = ap.parse_args()
    for exe in (args.chromium, args.chromedriver):
        if not os.access(exe, os.X_OK):
            print("%s is missing: run scripts/setup.sh (chromium, chromium-driver, python3-selenium)" % exe, file=sys.stderr)
            return 2
    return BrowserTest(args).run()


if __name__ == "__main__":
    sys.exit(main())
