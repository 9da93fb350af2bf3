#!/usr/bin/python3
"""The Notifications page in a real browser (issue 13).

Drives Debian's chromium through Debian's chromedriver (python3-selenium,
the system driver named explicitly: nothing is downloaded) against a running
guestbook_notify_web admin listener, as a person would: log in, open the
"Gagal" tab, open a failed notification, press "Kirim ulang", see the row
change; a viewer sees no action buttons; axe-core (vendored, see
vendor/README.md) checks the list and the detail pages for serious and
critical violations.  Prints TAP on stdout; exit 0 when every test passed.

    /usr/bin/python3 tests/browser/test_page.py --url http://127.0.0.1:8089 \
        --admin ROLE:PASSWORD --viewer ROLE:PASSWORD --out DIR [--failed-id UUID]

Screenshots go to DIR (list.png, detail.png, after_resend.png, ...); their
paths are printed as TAP comments.  Exit 2 (and "1..0 # SKIP") when chromium
or chromedriver is not installed; tests/t/270_page_browser.pl turns that into
a skip.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import urllib.parse

CHROMIUM = os.environ.get("GBN_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GBN_CHROMEDRIVER", "/usr/bin/chromedriver")
HERE = os.path.dirname(os.path.abspath(__file__))
AXE = os.path.join(HERE, "vendor", "axe.min.js")
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond and diag:
            self.diag(diag)
        return bool(cond)

    def diag(self, text):
        for line in str(text).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 0 if self.failed == 0 and self.n > 0 else 1


def skip_all(reason):
    print("1..0 # SKIP " + reason, flush=True)
    sys.exit(2)


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    o = webdriver.ChromeOptions()
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-dev-shm-usage", "--window-size=1366,900",
              "--lang=id-ID", "--user-data-dir=" + profile):
        o.add_argument(a)
    o.binary_location = CHROMIUM
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    d.set_page_load_timeout(30)
    d.set_script_timeout(60)
    return d


class Page:
    """One browser session (one logged-in role)."""

    def __init__(self, tap, base, out, tag):
        self.tap = tap
        self.base = base.rstrip("/")
        self.out = out
        self.tag = tag
        self.profile = tempfile.mkdtemp(prefix="gbn-chromium-%s-" % tag)
        self.d = browser(self.profile)

    def close(self):
        try:
            self.d.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # --- finding things ------------------------------------------------------
    def els(self, css):
        from selenium.webdriver.common.by import By
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def el(self, css):
        e = self.els(css)
        return e[0] if e else None

    def body_text(self):
        from selenium.webdriver.common.by import By
        return self.d.find_element(By.TAG_NAME, "body").text

    def by_text(self, tags, text):
        """Visible elements among tags whose own text (or value) is text."""
        want = text.strip().lower()
        found = []
        for e in self.els(tags):
            t = (e.text or e.get_attribute("value") or "").strip().lower()
            if t == want and e.is_displayed():
                found.append(e)
        return found

    def wait(self, cond, timeout=15, what="condition"):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                r = cond()
                if r:
                    return r
            except Exception as e:  # stale element while the page reloads
                last = e
            time.sleep(0.1)
        self.tap.diag("timed out waiting for %s%s" % (what, " (%s)" % last if last else ""))
        return None

    def go(self, path):
        self.d.get(self.base + path)

    def shot(self, name):
        path = os.path.join(self.out, name)
        self.d.save_screenshot(path)
        self.tap.diag("screenshot: %s" % path)
        return path

    # --- what the page is about ----------------------------------------------
    def login(self, role, password):
        self.go("/")
        pw = self.wait(lambda: self.el("input[type=password]"), what="the login form")
        if not pw:
            self.tap.diag(self.d.page_source[:2000])
            return False
        form = pw.find_element("xpath", "ancestor::form")
        user = [e for e in form.find_elements("css selector", "input")
                if (e.get_attribute("type") or "text") in ("text", "email", "")
                and e.is_displayed()]
        user[0].clear()
        user[0].send_keys(role)
        pw.clear()
        pw.send_keys(password)
        submit = form.find_elements("css selector", "button[type=submit], input[type=submit], button")
        submit[0].click()
        return self.wait(lambda: not self.el("input[type=password]") and self.el("table, main"),
                         what="the page after login")

    def tab(self, label):
        """The status tab link labelled label (its text starts with it: counts follow)."""
        for e in self.els("[data-tab] a, a[data-tab], nav a, [role=tablist] a"):
            t = (e.text or "").strip()
            if t == label or t.startswith(label + " ") or t.startswith(label + "\n") \
                    or re.match(re.escape(label) + r"\s*\(?\d", t):
                return e
        return None

    def rows(self):
        """Rows of the list: tr[data-id] (the page's documented hook)."""
        return self.els("tr[data-id]")

    def axe(self, label):
        """Run axe-core on the current page; fail on serious/critical violations."""
        src = open(AXE, encoding="utf-8").read()
        self.d.execute_script(src)
        res = self.d.execute_async_script("""
            var done = arguments[arguments.length - 1];
            axe.run(document, {resultTypes: ['violations']}).then(function (r) {
                done({violations: r.violations.map(function (v) {
                    return {id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.map(function (n) {
                                return n.target.join(' ') + ' :: ' + (n.failureSummary || '').replace(/\\s+/g, ' ');
                            }).slice(0, 5), count: v.nodes.length};
                }), passes: r.passes ? r.passes.length : null,
                    version: axe.version});
            }).catch(function (e) { done({error: String(e)}); });
        """)
        if "error" in res:
            return self.tap.ok(False, "%s: axe-core ran" % label, res["error"])
        v = res["violations"]
        bad = [x for x in v if x["impact"] in ("serious", "critical")]
        self.tap.diag("axe-core %s on %s: %d violation rule(s): %s" % (
            res.get("version"), label, len(v),
            ", ".join("%s (%s, %d)" % (x["id"], x["impact"], x["count"]) for x in v) or "none"))
        detail = "\n".join("%s [%s] %s\n  %s" % (x["id"], x["impact"], x["help"], "\n  ".join(x["nodes"]))
                           for x in bad)
        return self.tap.ok(not bad, "%s: no serious or critical axe-core violation" % label, detail)


def actionable_buttons(p):
    """Visible action controls (Kirim ulang, Antrekan lagi, Batalkan), by text."""
    found = []
    for label in ("Kirim ulang", "Antrekan lagi", "Batalkan"):
        found += p.by_text("button, input[type=submit], a", label)
    return found


def run(args, tap):
    admin_role, admin_pw = args.admin.split(":", 1)
    viewer_role, viewer_pw = args.viewer.split(":", 1)

    # ---------------------------------------------------------------- admin
    p = Page(tap, args.url, args.out, "admin")
    try:
        tap.diag("chromium %s, chromedriver %s" % (
            p.d.capabilities.get("browserVersion"),
            (p.d.capabilities.get("chrome") or {}).get("chromedriverVersion", "?").split(" ")[0]))
        tap.ok(p.login(admin_role, admin_pw), "admin %s logs in with its PostgreSQL role" % admin_role)
        tap.ok(admin_role in p.body_text(), "the page names the logged-in role")
        tap.ok("Perlu tindakan" in p.body_text(), "the list shows the tab 'Perlu tindakan'")

        gagal = p.tab("Gagal")
        tap.ok(gagal is not None, "there is a 'Gagal' tab")
        m = re.search(r"Gagal\D*(\d+)", gagal.text if gagal else "")
        tab_count = int(m.group(1)) if m else None
        tap.ok(tab_count == args.failed_count,
               "the 'Gagal' tab counts %s failed notifications" % args.failed_count,
               "tab text: %r" % (gagal.text if gagal else None))
        gagal.click()
        tap.ok(p.wait(lambda: p.rows(), what="rows in the Gagal tab"), "the Gagal tab lists rows")
        ids = [r.get_attribute("data-id") for r in p.rows()]
        tap.ok(len(ids) == args.failed_count, "the Gagal tab lists %d rows" % args.failed_count,
               "data-id: %s" % ids)
        tap.ok(args.failed_id in ids, "the failed notification %s is among them" % args.failed_id,
               "data-id: %s" % ids)
        caption = p.el("table caption")
        tap.ok(caption is not None and caption.text.strip() != "", "the table has a caption")
        tap.ok(len(p.els("th[scope]")) > 0, "header cells have scope")
        tap.ok("Gagal" in p.el("tr[data-id='%s']" % args.failed_id).text,
               "the row says 'Gagal' in text, not only in colour")
        list_url = p.d.current_url
        p.shot("list.png")
        p.axe("list (Gagal tab)")

        # the detail of the failed notification
        row = p.el("tr[data-id='%s']" % args.failed_id)
        link = row.find_elements("css selector", "a[href]")
        tap.ok(link, "the row links to its detail")
        link[0].click()
        tap.ok(p.wait(lambda: args.failed_id in p.d.current_url or args.failed_id in p.body_text(),
                      what="the detail page"), "the detail page opens")
        text = p.body_text()
        tap.ok(args.failed_error in text, "the detail shows the failure reason (%s)" % args.failed_error,
               text[:1500])
        tap.ok("wa.me/" in p.d.page_source, "the detail offers a click-to-chat (wa.me) link")
        p.shot("detail.png")
        p.axe("detail (failed notification)")

        resend = p.by_text("button, input[type=submit]", "Kirim ulang")
        tap.ok(len(resend) == 1, "the detail has one 'Kirim ulang' button")
        before = p.d.current_url
        resend[0].click()
        # a confirmation step, if the page asks for one
        p.wait(lambda: p.d.current_url != before or p.d.execute_script("return document.readyState") == "complete",
               what="the answer to the resend")
        confirm = p.by_text("button, input[type=submit]", "Ya, kirim ulang") or \
            p.by_text("button, input[type=submit]", "Konfirmasi")
        if confirm:
            confirm[0].click()
        time.sleep(0.3)
        body = p.body_text()
        tap.ok(re.search(r"dikirim ulang|kirim ulang|Menunggu|antre", body, re.I) is not None,
               "the page confirms the resend", body[:1500])
        new_id = p.wait(lambda: args.new_row_id(), timeout=20, what="the new row in the database")
        tap.ok(new_id, "the resend queued a new notification (resent_from = %s)" % args.failed_id)
        p.shot("after_resend.png")

        # the list again: the new row is there, the failed one is marked resent
        p.go(urllib.parse.urlparse(list_url).path + "?" + urllib.parse.urlparse(list_url).query)
        p.d.get(list_url)
        ids_after = [r.get_attribute("data-id") for r in p.rows()]
        old = p.el("tr[data-id='%s']" % args.failed_id)
        tap.ok(old is not None and re.search(r"dikirim ulang|kirim ulang", old.text, re.I),
               "in the Gagal list the failed row now says it was sent again",
               old.text if old else "row gone: %s" % ids_after)
        if new_id:
            # the new row: wherever it is now (pending, sending or sent to the mock)
            p.go("/")
            found = p.wait(lambda: p.el("tr[data-id='%s']" % new_id) or _find_in_tabs(p, new_id),
                           timeout=20, what="the new row in the list")
            tap.ok(found, "the new row %s appears in the list" % new_id)
            if found:
                p.shot("list_after_resend.png")
    finally:
        p.close()

    # --------------------------------------------------------------- viewer
    v = Page(tap, args.url, args.out, "viewer")
    try:
        tap.ok(v.login(viewer_role, viewer_pw), "viewer %s logs in" % viewer_role)
        g = v.tab("Gagal")
        if g:
            g.click()
            v.wait(lambda: v.rows(), what="rows for the viewer")
        tap.ok(len(v.rows()) > 0, "the viewer sees the failed rows")
        tap.ok(not actionable_buttons(v), "the viewer's list has no action buttons",
               [b.text for b in actionable_buttons(v)])
        tap.ok(not v.els("input[type=checkbox][name]"), "the viewer's list has no row checkboxes")
        v.go(args.detail_path or "/")
        if not args.detail_path:
            r = v.el("tr[data-id='%s'] a[href]" % args.failed_id)
            if r:
                r.click()
        v.wait(lambda: args.failed_id in v.d.current_url, what="the viewer's detail page")
        tap.ok(args.failed_id in v.d.current_url, "the viewer opens the detail")
        tap.ok(not actionable_buttons(v), "the viewer's detail has no action buttons",
               [b.text for b in actionable_buttons(v)])
        v.shot("viewer_detail.png")
    finally:
        v.close()


def _find_in_tabs(p, want):
    for label in ("Menunggu", "Sedang dikirim", "Terkirim", "Diterima", "Dibaca", "Perlu tindakan"):
        t = p.tab(label)
        if not t:
            continue
        t.click()
        if p.el("tr[data-id='%s']" % want):
            return True
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the admin listener, e.g. http://127.0.0.1:8089")
    ap.add_argument("--admin", required=True, help="ROLE:PASSWORD of an admin role")
    ap.add_argument("--viewer", required=True, help="ROLE:PASSWORD of a read-only role")
    ap.add_argument("--out", required=True, help="directory for the screenshots")
    ap.add_argument("--failed-id", required=True, help="id of a failed notification to resend")
    ap.add_argument("--failed-count", type=int, required=True, help="how many rows are failed")
    ap.add_argument("--failed-error", required=True, help="a piece of its last_error")
    ap.add_argument("--detail-path", default=None)
    ap.add_argument("--psql", default=None,
                    help="a psql command line (JSON list) to ask for the resent row's id")
    args = ap.parse_args()

    for f in (CHROMIUM, CHROMEDRIVER):
        if not os.access(f, os.X_OK):
            skip_all("%s is not installed (apt-get install chromium chromium-driver)" % f)
    try:
        import selenium  # noqa: F401
    except ImportError:
        skip_all("python3-selenium is not installed")
    with open(AXE, "rb") as fh:
        if hashlib.sha256(fh.read()).hexdigest() != AXE_SHA256:
            print("Bail out! %s is not the vendored axe-core (sha256 differs)" % AXE)
            sys.exit(1)
    os.makedirs(args.out, exist_ok=True)

    def new_row_id():
        if not args.psql:
            return None
        import subprocess
        cmd = json.loads(args.psql) + [
            "-Atc", "SELECT id FROM guestbook_notify.notification_queue WHERE resent_from = '%s'"
            % args.failed_id]
        out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
        return out or None
    args.new_row_id = new_row_id

    tap = Tap()
    try:
        run(args, tap)
    except Exception:
        tap.ok(False, "the browser scenario ran to its end", traceback.format_exc())
    sys.exit(tap.done())


if __name__ == "__main__":
    main()
