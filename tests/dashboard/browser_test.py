#!/usr/bin/python3
"""The operator dashboard in a real browser against the real orchestrator.

Runs the embedded demo (c4i-demo: orchestrator, simulator, discovery daemons,
functions) with an operator and a viewer token, drives Debian's chromium
(headless) through chromium-driver with python3-selenium, and checks:
  - the page loads and signs in with no console errors;
  - a roam appears on the page (the roam in the migration list, the function
    on its new gateway) within a second of its event on /v1/watch;
  - a move by the Move button, by dragging onto a node and by dragging onto a
    tier's heading (a tier target, as the kubernetes backend takes) work
    (checked over REST);
  - a policy the API rejects shows the API's message at the field it names;
  - a viewer sees everything and cannot move (no button, no drag; 403 over REST).
Screenshots go to --artifacts, with the browser's console log
(browser-console.json), the demo's output and the orchestrator's log. Prints
the timings it measured and a closing 'N passed, N failed' line; exits 2 when
chromium, chromium-driver or python3-selenium is missing (a failure, not a skip).
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

try:
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError as e:
    print("browser_test: %s: install Debian's python3-selenium (scripts/setup.sh) and run with /usr/bin/python3" % e,
          file=sys.stderr)
    sys.exit(2)

ROAM_LATENCY_LIMIT_S = 1.0
# The demo's scenario (demo/scenario.yaml) has its four roams between scenario
# seconds ~37 and ~120 and then stays as it ended: at --speed 2.5 that is about
# 15 s to 48 s after the simulator starts. The page is live (and roams count)
# from the first check on; the moves and the policy check run while the test
# waits for one, so on a loaded machine the later roams still come after the
# page is live and the run stays short.
DEFAULT_SPEED = 2.5
ROAM_WAIT_S = 45
# The whole run, startup and cleanup included, stays under two minutes: past
# this an alarm ends the checks still running and the cleanup stops everything.
OVERALL_S = 110


class OverallTimeout(BaseException):
    """Not an Exception: no check's own handler may swallow it."""


def on_alarm(signum, frame):
    raise OverallTimeout("the browser test ran past its %d s budget" % OVERALL_S)


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
    """Reads GET /v1/watch and queues each event with the wall-clock time it arrived (time.time(),
    the clock the page's Date.now() reads too)."""

    def __init__(self, rest):
        super().__init__(daemon=True)
        self.rest = rest
        self.events = queue.Queue()
        self.stop = False

    def run(self):
        # No socket timeout: quiet stretches are normal, and the test's own waits bound it (a daemon thread).
        conn = http.client.HTTPSConnection("127.0.0.1", self.rest.port, context=self.rest.ctx, timeout=None)
        conn.request("GET", "/v1/watch?kinds=functions,migrations", headers={"Authorization": "Bearer " + self.rest.token})
        r = conn.getresponse()
        if r.status != 200:
            print("watch: HTTP %d" % r.status, file=sys.stderr)
            return
        data = []
        while not self.stop:
            try:
                line = r.fp.readline()
            except OSError:
                break
            if not line:
                break
            line = line.decode().rstrip("\r\n")
            if line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and data:
                try:
                    self.events.put((time.time(), json.loads("\n".join(data))))
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
                self.proc.wait(timeout=30)
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
        self.timings = {}   # name -> ms, printed at the end
        self.roam_known = None  # migrations up to this id were there before the page was live
        self.refused_moves = 0  # moves the API refused because the demo's load changed (409s the browser logs)

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
                self.read_console()
            except Exception:
                pass
            with open(os.path.join(self.args.artifacts, "browser-console.json"), "w") as f:
                json.dump(self.console, f, indent=1)
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
        except OverallTimeout as e:
            self.results.append((name, False, e))
            print("FAIL %-40s %s" % (name, e), flush=True)
            raise
        except Exception as e:  # one failed check does not hide the others
            self.results.append((name, False, e))
            print("FAIL %-40s %s" % (name, e), flush=True)
            traceback.print_exc()
            try:
                self.shot("fail-" + name)
                # A dialog left open would take the next checks' clicks: close it as a user would.
                for b in self.css("#move-dialog:not([hidden]) #move-cancel"):
                    b.click()
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
        t0 = time.monotonic()
        d.get(self.url)
        self.wait_css("#sign-in:not([hidden])", 10, "the sign-in form")
        self.timings["page_load_ms"] = (time.monotonic() - t0) * 1000
        nav = d.execute_script("const n = performance.getEntriesByType('navigation')[0];"
                               "return n ? [n.domContentLoadedEventEnd, n.loadEventEnd] : null;")
        if nav:
            self.timings["page_dom_content_loaded_ms"], self.timings["page_load_event_ms"] = nav
        assert d.title == "Cloud4IoT dashboard", d.title
        self.shot("01-sign-in")
        bad = self.severe(self.read_console())
        assert not bad, "console errors while loading: %s" % bad
        t0 = time.monotonic()
        self.sign_in("operator")
        self.timings["sign_in_to_drawn_ms"] = (time.monotonic() - t0) * 1000
        self.arm_roam_watch()
        # Every gateway shows CPU and memory bars, with the policy's watermarks on them.
        bars = self.css('[data-node="gw-3"] .bar')
        assert len(bars) == 2, "gw-3 has %d bars" % len(bars)
        wait_until(lambda: self.css('[data-node="gw-3"] .bar .mark.high') and
                   self.css('[data-node="gw-3"] .bar .mark.high')[0].is_displayed(), 5, "gw-3's high watermark mark")
        self.wait_css("[data-node^='gw-'] .device", 10, "a device near a gateway, with its RSSI")
        # Read in one step: the chips are redrawn with every change.
        chip = self.driver.execute_script("return document.querySelector(\"[data-node^='gw-'] .device\").textContent;")
        assert "dBm" in chip, chip
        self.shot("02-signed-in")
        bad = self.severe(self.read_console())
        assert not bad, "console errors after sign-in: %s" % bad

    # Installed in the page before a roam: a MutationObserver that notes, by the page's own clock,
    # when each migration row and each function card on a node first appear. Timing there, not by
    # polling over WebDriver, keeps a loaded machine's round trips out of the measurement.
    SEEN_JS = """
      if (!window.__seen) {
        const seen = window.__seen = {};
        const scan = () => {
          const now = Date.now();
          for (const tr of document.querySelectorAll('#migrations tr[data-migration-id]')) {
            const k = 'row:' + tr.dataset.migrationId;
            if (!(k in seen)) seen[k] = now;
          }
          for (const c of document.querySelectorAll('[data-node] [data-function]')) {
            const k = 'card:' + c.dataset.function + '@' + c.closest('[data-node]').dataset.node;
            if (!(k in seen)) seen[k] = now;
          }
        };
        scan();
        new MutationObserver(scan).observe(document.getElementById('app'), { childList: true, subtree: true });
      }
    """

    def arm_roam_watch(self):
        """From now on a roam counts: called as soon as the page is live, so a roam decided while
        the first checks still run is measured too (the demo has only four)."""
        self.wait_css("#live.on", 5, "the watch stream to be live")
        self.driver.execute_script(self.SEEN_JS)
        self.roam_known = max([m["id"] for m in self.op.get("/v1/migrations?limit=1000")["items"]], default=0)

    def roam_appears_within_a_second(self):
        """The first roam decided while the page is live shows within ROAM_LATENCY_LIMIT_S of its
        events reaching this test's own /v1/watch reader: the roam in the migration list after the
        migration's first event, the function's card on the new gateway after the function's event
        that puts it there (the card moves when the function runs there, not when it is decided)."""
        if self.roam_known is None:
            self.arm_roam_watch()
        known = self.roam_known
        deadline = time.monotonic() + ROAM_WAIT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no roam after the page was live (the demo's roams are 15-48 s after it "
                                     "starts at --speed 2.5: did the page take that long to be live?)")
            try:
                t_event, ev = self.watcher.events.get(timeout=left)
            except queue.Empty:
                continue
            m = ev.get("object") or {}
            if ev.get("kind") == "migrations" and m.get("kind") == "roam" and m.get("id", 0) > known:
                break
        fn, src, to = m["function"], m.get("from"), (m.get("to") or {}).get("node")
        assert to, "a roam without a target node: %s" % m
        # The function event that puts it on `to`.
        t_fn = None
        wait_end = time.monotonic() + 10
        while t_fn is None:
            try:
                t, ev = self.watcher.events.get(timeout=max(0.01, wait_end - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no function event for %s on %s on /v1/watch within 10 s" % (fn, to))
            o = ev.get("object") or {}
            if ev.get("kind") == "functions" and o.get("id") == fn and o.get("node") == to:
                t_fn = t
        row_key, card_key = "row:%d" % m["id"], "card:%s@%s" % (fn, to)
        seen = wait_until(lambda: (lambda v: v if row_key in v and card_key in v else None)(
            self.driver.execute_script("return window.__seen;") or {}), 10,
            "roam #%d in the list and %s drawn on %s" % (m["id"], fn, to), poll_s=0.1)
        self.shot("08-roam")
        row_ms = seen[row_key] - t_event * 1000
        card_ms = seen[card_key] - t_fn * 1000
        self.timings["roam_event_to_row_ms"] = row_ms
        self.timings["function_event_to_card_ms"] = card_ms
        self.timings["roam_event_to_card_ms"] = seen[card_key] - t_event * 1000
        print("     roam #%d %s %s -> %s: in the list %.0f ms after its event; card on %s %.0f ms after the "
              "function's event (%.0f ms after the roam's)" % (m["id"], fn, src, to, row_ms, to, card_ms,
                                                              self.timings["roam_event_to_card_ms"]))
        limit = ROAM_LATENCY_LIMIT_S * 1000
        assert row_ms <= limit and card_ms <= limit, "a roam took more than %.0f ms to show" % limit
        # Both readers see the same stream, so the page may be a few ms ahead; far ahead means the
        # card was there before the roam (a function roaming back), which measures nothing.
        assert row_ms > -500 and card_ms > -500, "drawn before the roam's event: %.0f, %.0f ms" % (row_ms, card_ms)
        row = 'tr[data-kind="roam"][data-migration-id="%d"]' % m["id"]
        # Its timeline fills in as the steps come: at least one segment once it started.
        wait_until(lambda: self.css(row + " .tl .seg"), 10, "a step in the timeline bar of roam #%d" % m["id"])
        wait_until(lambda: len(self.css("#chart-durations circle")) > 0, 10, "a duration dot in the chart")
        wait_until(lambda: len(self.css("#chart-rate rect")) > 0, 10, "a bar in the migrations-per-minute chart")

    def move_targets(self, current):
        """Nodes engine-7 can be moved to now, best first: not `current`, not cloud (the tier move
        goes there last), and under the policy's high watermarks by their latest usage: the demo
        loads gw-3 and then edge-1 for a while, and the API refuses a move to a node past them."""
        tiers = self.op.get("/v1/policy")["policy"]["tiers"]
        nodes = {n["name"]: n for n in self.op.get("/v1/nodes")["items"]}
        out = []
        for name in ("edge-1", "gw-3", "gw-2", "gw-1"):
            n = nodes.get(name)
            if not n or name == current:
                continue
            u, w = n.get("usage") or {}, tiers[n["tier"]]
            if (u.get("cpu") or 0) < w["cpu_high"] - 0.1 and (u.get("mem") or 0) < w["mem_high"] - 0.1:
                out.append(name)
        return out

    def move_engine(self, how, attempt):
        """Moves engine-7 with `attempt(target)` to the first node it may go to. A refusal the API
        explains (409: the target's load crossed a watermark since it was read) is printed and the
        next target tried; any other outcome counts."""
        f = self.wait_quiet("engine-7")
        # The page acts on what it shows: wait for it to show what the API says.
        self.wait_css('[data-node="%s"] [data-function="engine-7"]' % f["node"], 10, "engine-7 drawn on " + f["node"])
        targets = self.move_targets(f["node"])
        assert targets, "no node engine-7 may move to now"
        for target in targets:
            refused = attempt(target)
            if not refused:
                return target
            self.refused_moves += 1
            print("     %s: the API refused engine-7 -> %s (%s); trying the next node" % (how, target, refused))
            f = self.wait_quiet("engine-7")
            self.wait_css('[data-node="%s"] [data-function="engine-7"]' % f["node"], 10, "engine-7 drawn on " + f["node"])
        raise AssertionError("%s: every target was refused" % how)

    def move_by_button(self):
        d = self.driver

        def attempt(target):
            self.css('[data-function="engine-7"] button[data-action="move"]')[0].click()
            self.wait_css("#move-dialog:not([hidden])", 5, "the move dialog")
            Select(d.find_element(By.ID, "move-target")).select_by_value("node:" + target)
            self.shot("03-move-dialog")
            d.find_element(By.ID, "move-submit").click()
            # The dialog closes once the API took the move, or shows why it did not.
            wait_until(lambda: self.css("#move-dialog[hidden]") or self.css("#move-error")[0].text, 10,
                       "the move dialog to close or show an error")
            err = self.css("#move-error")[0].text
            if err:
                d.find_element(By.ID, "move-cancel").click()
            return err
        target = self.move_engine("move by button", attempt)
        wait_until(lambda: self.node_of("engine-7") == target, 20, "engine-7 on %s (REST)" % target, poll_s=0.1)
        migs = self.op.get("/v1/migrations?function=engine-7&kind=manual")["items"]
        assert any(m["requested_by"] == self.tokens["operator"][0] and m["to"]["node"] == target for m in migs), migs
        assert self.op.get("/v1/functions/engine-7")["pinned"] is True
        self.wait_css('[data-node="%s"] [data-function="engine-7"]' % target, 5, "engine-7 drawn on " + target)
        self.shot("04-moved-by-button")

    def drag_hold(self, card, target):
        """Presses on `card`, moves onto `target` in steps; the caller releases. First waits for the
        card to stand still: a card that just moved glides to its node for a moment, and a press
        aimed at where it was would land beside it."""
        wait_until(lambda: self.driver.execute_script(
            "return arguments[0].closest('.fn').getAnimations().length === 0;", card), 5, "the card to stand still")
        a = ActionChains(self.driver, duration=50)
        a.click_and_hold(card).move_by_offset(12, 8).move_to_element(target).move_by_offset(0, 2)
        a.perform()

    def drop_outcome(self, what, done):
        """After a drop: None once `done()` (the move went through), or the page's error toast."""
        def outcome():
            toast = self.css("#toast.error:not([hidden])")
            if toast:
                return ("refused", toast[0].text)
            return done() and ("done", None)
        kind, text = wait_until(outcome, 20, what, poll_s=0.1)
        if kind == "refused":
            self.driver.execute_script("document.getElementById('toast').hidden = true;")
            return text
        return None

    def move_by_drag(self):
        def attempt(target):
            card = self.css('[data-function="engine-7"] .fn-device')[0]
            node = self.css('[data-node="%s"] .node-head' % target)[0]
            self.drag_hold(card, node)
            assert self.css(".ghost"), "no drag ghost follows the pointer"
            assert self.css('[data-node="%s"].drop' % target), "the node under the pointer is not highlighted"
            self.shot("05-dragging")
            ActionChains(self.driver).release().perform()
            assert not self.css(".ghost"), "the ghost stayed after the drop"
            return self.drop_outcome("engine-7 on %s after the drag (REST)" % target,
                                     lambda: self.node_of("engine-7") == target)
        target = self.move_engine("move by drag", attempt)
        self.wait_css('[data-node="%s"] [data-function="engine-7"]' % target, 5, "engine-7 drawn on " + target)

    def move_by_drag_to_tier(self):
        """A drop on a tier's heading asks for any node of that tier (`{"tier": ...}`): the way a
        move names its target on the kubernetes backend, where the scheduler picks the node. The
        cloud (cloud-1, which the demo never loads); the moves before left engine-7 below it."""
        f = self.wait_quiet("engine-7")
        tier_of = {n["name"]: n["tier"] for n in self.op.get("/v1/nodes")["items"]}
        tier = "cloud"
        assert tier_of[f["node"]] != tier, "engine-7 is on %s already" % f["node"]
        before = max([m["id"] for m in self.op.get("/v1/migrations?function=engine-7&limit=1000")["items"]], default=0)
        card = self.css('[data-function="engine-7"] .fn-device')[0]
        head = self.css('[data-drop-tier="%s"]' % tier)[0]
        self.drag_hold(card, head)
        assert self.css('[data-drop-tier="%s"].drop' % tier), "the %s heading under the pointer is not highlighted" % tier
        self.shot("06-dragging-to-tier")
        ActionChains(self.driver).release().perform()
        refused = self.drop_outcome("engine-7 on a %s node (REST)" % tier,
                                    lambda: tier_of.get(self.node_of("engine-7")) == tier)
        assert not refused, "the API refused a move to tier %s: %s" % (tier, refused)
        migs = [m for m in self.op.get("/v1/migrations?function=engine-7&kind=manual&limit=1000")["items"] if m["id"] > before]
        assert migs, "no manual migration of engine-7 after #%d" % before
        m = max(migs, key=lambda x: x["id"])
        assert m["to"]["tier"] == tier and m["requested_by"] == self.tokens["operator"][0], m
        to = self.node_of("engine-7")
        self.wait_css('[data-node="%s"] [data-function="engine-7"]' % to, 5, "engine-7 drawn on " + to)

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
        self.shot("09-viewer")
        # The API refuses a viewer's move too (the page is not the only guard).
        status, body, _, _ = self.viewer_rest.call("POST", "/v1/functions/%s:move" % fn, {"node": "cloud-1"})
        assert status == 403, (status, body)
        assert not [m for m in self.op.get("/v1/migrations?function=%s&kind=manual" % fn)["items"]], "a viewer moved " + fn

    def no_unexpected_console_errors(self):
        self.read_console()
        # The one expected error: the browser logs the 400 of the policy the API rejected.
        allowed = ["/v1/policy - Failed to load resource: the server responded with a status of 400"]
        if self.refused_moves:
            allowed.append(":move - Failed to load resource: the server responded with a status of 409")
        bad = self.severe(self.console, allowed=allowed)
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
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(OVERALL_S)
        try:
            self.start()
            self.check("page_loads_without_console_errors", self.page_loads_without_console_errors)
            # The operator's page stays live from here to the roam check: a roam decided meanwhile
            # is timed by the page itself (arm_roam_watch), so waiting for one overlaps these checks.
            self.check("move_by_button", self.move_by_button)
            self.check("move_by_drag", self.move_by_drag)
            self.check("move_by_drag_to_tier", self.move_by_drag_to_tier)
            self.check("policy_error_at_field", self.policy_error_at_field)
            self.check("roam_appears_within_a_second", self.roam_appears_within_a_second)
            self.check("viewer_cannot_move", self.viewer_cannot_move)
            self.check("no_unexpected_console_errors", self.no_unexpected_console_errors)
            self.check("page_weight", self.page_weight)
        except OverallTimeout as e:
            print("FAIL %s; the checks after it did not run" % e, flush=True)
            if not self.results or self.results[-1][1]:
                self.results.append(("overall", False, e))
        except Exception as e:
            traceback.print_exc()
            self.results.append(("setup", False, e))
        finally:
            signal.alarm(0)
            self.stop()
        passed = sum(1 for r in self.results if r[1])
        failed = len(self.results) - passed
        for k, v in self.timings.items():
            print("timing %-28s %7.0f ms" % (k, v))
        print("screenshots in %s" % self.args.artifacts)
        print("%d passed, %d failed" % (passed, failed))
        return 0 if failed == 0 and passed > 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo", required=True, help="the c4i-demo binary")
    ap.add_argument("--bin-dir", required=True, help="build tree with the binaries")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--artifacts", required=True, help="where screenshots and logs go")
    ap.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="scenario seconds per second")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = ap.parse_args()
    if not os.access(args.demo, os.X_OK):
        print("%s is missing: build c4i-demo and the binaries it starts (c4i-orchestrator, c4i-discovery, "
              "c4i-reader, c4i-sim, c4i-fn-omh, c4i-fn-engine)" % args.demo, file=sys.stderr)
        return 2
    for exe in (args.chromium, args.chromedriver):
        if not os.access(exe, os.X_OK):
            print("%s is missing: run scripts/setup.sh (chromium, chromium-driver, python3-selenium)" % exe, file=sys.stderr)
            return 2
    return BrowserTest(args).run()


if __name__ == "__main__":
    sys.exit(main())
