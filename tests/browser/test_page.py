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
        --admin ROLE:PASSWORD --viewer ROLE:PASSWORD --out DIR \
        --failed-ids ID1,ID2 --resend-id ID2 --resend-number 628... \
        --failed-error 131026 --psql '["psql", "-h", HOST, "-p", PORT, "-d", DB]'

Screenshots of the whole page go to DIR (list.png, detail.png,
after_resend.png, list_after_resend.png, detail_after_resend.png,
viewer_detail.png; each with its HTML beside it); their paths are printed as
TAP comments.  Exit 2 (and "1..0 # SKIP") when chromium, chromedriver or
selenium is not installed; tests/t/270_page_browser.pl skips only then (it
checks before it starts anything).
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
        """A screenshot of the whole page (the window made as tall as the
        document), and the HTML beside it (name.html) for a look later."""
        path = os.path.join(self.out, name)
        h = self.d.execute_script("return Math.max(document.documentElement.scrollHeight,"
                                  " document.body ? document.body.scrollHeight : 0)")
        self.d.set_window_size(1366, max(900, min(int(h or 900) + 140, 6000)))
        self.d.save_screenshot(path)
        self.d.set_window_size(1366, 900)
        with open(os.path.splitext(path)[0] + ".html", "w", encoding="utf-8") as fh:
            fh.write(self.d.page_source)
        self.tap.diag("screenshot: %s" % path)
        return path

    # --- what the page is about (hooks: README "Notifications page") --------
    def login(self, role, password):
        self.go("/login")
        form = self.wait(lambda: self.el("form#login-form"), what="the login form")
        if not form:
            self.tap.diag(self.d.page_source[:2000])
            return False
        u = self.el("#login-form input[name=role]")
        u.clear()
        u.send_keys(role)
        pw = self.el("#login-form input[name=password]")
        pw.clear()
        pw.send_keys(password)
        self.el("#login-button").click()
        return self.wait(lambda: "/notifications" in self.d.current_url and self.el("table#notifications"),
                         what="the list after login")

    def tab(self, key):
        """The status tab link data-tab=key."""
        return self.el("a[data-tab='%s'], [data-tab='%s'] a" % (key, key))

    def rows(self):
        return self.els("table#notifications tr[data-id]")

    def row(self, nid):
        return self.el("table#notifications tr[data-id='%s']" % nid)

    def action_buttons(self):
        """Visible action controls: buttons named action (README hooks)."""
        return [b for b in self.els("button[name=action], input[type=submit][name=action],"
                                    " button[name=row_action], input[type=submit][name=row_action]")
                if b.is_displayed()]

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


def run(args, tap):
    admin_role, admin_pw = args.admin.split(":", 1)
    viewer_role, viewer_pw = args.viewer.split(":", 1)
    failed_ids = args.failed_ids.split(",")
    rid = args.resend_id

    # ---------------------------------------------------------------- admin
    p = Page(tap, args.url, args.out, "admin")
    try:
        tap.diag("chromium %s, chromedriver %s" % (
            p.d.capabilities.get("browserVersion"),
            (p.d.capabilities.get("chrome") or {}).get("chromedriverVersion", "?").split(" ")[0]))
        p.go("/")
        tap.ok(p.wait(lambda: p.el("form#login-form"), what="the login form"),
               "GET / without a session leads to the login form")
        tap.ok(p.login(admin_role, admin_pw), "admin %s logs in with its PostgreSQL role" % admin_role)
        who = p.el("#who")
        tap.ok(who is not None and who.text.strip() == admin_role, "the page names the logged-in role (#who)",
               who.text if who is not None else p.body_text()[:500])
        tabs = [e.get_attribute("data-tab") for e in p.els("[data-tab]")]
        tap.ok(tabs[:1] == ["attention"], "'Perlu tindakan' (attention) is the first tab", tabs)
        att = p.tab("attention")
        tap.ok(att is not None and att.text.strip().startswith("Perlu tindakan"),
               "its label is 'Perlu tindakan'", att.text if att else None)

        gagal = p.tab("failed")
        tap.ok(gagal is not None and gagal.text.strip().startswith("Gagal"), "there is a 'Gagal' tab",
               gagal.text if gagal else tabs)
        m = re.search(r"(\d+)", gagal.text if gagal else "")
        tab_count = int(m.group(1)) if m else None
        gagal.click()
        tap.ok(p.wait(lambda: p.rows(), what="rows in the Gagal tab"), "the Gagal tab lists rows")
        ids = [r.get_attribute("data-id") for r in p.rows()]
        states = set(r.get_attribute("data-status") for r in p.rows())
        tap.ok(states == {"failed"}, "every row of the Gagal tab is data-status=failed", states)
        tap.ok(tab_count == len(ids), "the tab's count (%s) is the number of rows listed (%d)" % (tab_count, len(ids)))
        for fid in failed_ids:
            tap.ok(fid in ids, "the failed notification %s is listed" % fid, "listed: %s" % ids)
        caption = p.el("table#notifications caption")
        tap.ok(caption is not None and caption.text.strip() != "", "the table has a caption")
        tap.ok(len(p.els("table#notifications th[scope]")) > 0, "header cells have scope")
        r = p.row(rid)
        tap.ok(r is not None and "Gagal" in r.text, "the row says 'Gagal' in text, not only in colour",
               r.text if r else None)
        wa = r.find_elements("css selector", "a.wa-link") if r else []
        tap.ok(wa and wa[0].get_attribute("href").startswith("https://wa.me/%s?text=" % args.resend_number),
               "the failed row offers click-to-chat to wa.me/%s" % args.resend_number,
               [a.get_attribute("href") for a in wa])
        # the refused one's recipient is named 'Dewi <b>Operator</b>' and its
        # case's visitor '<script>...': text on the page, never markup
        xr = p.row(failed_ids[0])
        tap.ok(xr is not None and not xr.find_elements("css selector", "b, script")
               and "<b" in xr.text and p.d.title != "pwned",
               "markup in a name is shown as text (no <b>, no script ran)",
               xr.get_attribute("innerHTML")[:800] if xr is not None else None)
        list_url = p.d.current_url
        p.shot("list.png")
        p.axe("list (Gagal tab)")

        # the detail of the delivery failure
        links = [a for a in r.find_elements("css selector", "a[href]")
                 if "/n/%s" % rid in (a.get_attribute("href") or "")] if r else []
        tap.ok(links, "the row links to its detail /n/%s" % rid)
        links[0].click()
        tap.ok(p.wait(lambda: p.d.current_url.endswith("/n/%s" % rid) and p.el("#attempts"),
                      what="the detail page"), "the detail page opens")
        for sec in ("message", "attempts", "statuses", "case-events"):
            tap.ok(p.el("#" + sec) is not None, "the detail has its section #%s" % sec)
        st = p.el("#statuses")
        tap.ok(st is not None and args.failed_error in st.text,
               "the detail shows Meta's failure (%s) among the statuses" % args.failed_error,
               st.text[:1500] if st else p.body_text()[:1500])
        p.shot("detail.png")
        p.axe("detail (a delivery failure)")

        resend = [b for b in p.action_buttons() if b.get_attribute("value") == "resend"]
        tap.ok(len(resend) == 1 and resend[0].text.strip() == "Kirim ulang",
               "the detail has one 'Kirim ulang' button", [(b.text, b.get_attribute("value")) for b in p.action_buttons()])
        resend[0].click()
        # a confirmation step, if the page asks for one
        conf = p.wait(lambda: p.el("#flash") or p.el("input[name=confirm]"), what="the answer to Kirim ulang")
        if conf is not None and p.el("input[name=confirm]") and not p.el("#flash"):
            tap.diag("the page asks for a confirmation; confirming")
            p.el("input[name=confirm]").find_element("xpath", "ancestor::form").submit()
            p.wait(lambda: p.el("#flash"), what="the flash after the confirmation")
        flash = p.el("#flash")
        tap.ok(flash is not None and flash.get_attribute("role") == "status" and flash.text.strip(),
               "a message (#flash, role=status) confirms the action",
               flash.text if flash else p.body_text()[:1500])
        if flash is not None:
            tap.diag("flash: " + flash.text.strip().replace("\n", " "))
        new_id = p.wait(lambda: args.new_row_id(), timeout=20, what="the new row in the database")
        tap.ok(new_id, "the database has a new row with resent_from = %s" % rid)
        p.shot("after_resend.png")

        # the new row appears in the list and moves on (sent, then delivered by the mock's webhook)
        seen = []

        def new_row_state():
            p.go("/notifications?tab=all")
            row = p.row(new_id)
            if row is None:
                return None
            seen.append(row.get_attribute("data-status"))
            return row if seen[-1] in ("delivered", "read") else None
        row = p.wait(new_row_state, timeout=30, what="the resent row delivered") if new_id else None
        tap.ok(row is not None, "the new row %s is listed and reaches 'Diterima' (states seen: %s)"
               % (new_id, " -> ".join(dict.fromkeys(seen)) or "none"))
        tap.ok(row is not None and re.search(r"Diterima|Dibaca", row.text),
               "its status is shown as text", row.text if row is not None else None)
        p.shot("list_after_resend.png")
        p.d.get(list_url)
        old = p.row(rid)
        tap.ok(old is not None, "the failed row is still in the Gagal tab (resend keeps it, with its audit)")
        p.go("/n/%s" % rid)
        log = p.el("#actions-log")
        tap.ok(log is not None and admin_role in log.text
               and re.search(r"Kirim ulang|resend", log.text, re.I) is not None,
               "the old row's action log records the resend by %s" % admin_role,
               log.text[:1000] if log is not None else None)
        tap.ok(new_id and new_id in p.d.page_source, "the old row's detail links to the new one")
        p.shot("detail_after_resend.png")
    finally:
        p.close()

    # --------------------------------------------------------------- viewer
    v = Page(tap, args.url, args.out, "viewer")
    try:
        tap.ok(v.login(viewer_role, viewer_pw), "viewer %s logs in" % viewer_role)
        g = v.tab("failed")
        if g is not None:
            g.click()
            v.wait(lambda: v.rows(), what="rows for the viewer")
        tap.ok(len(v.rows()) > 0, "the viewer sees the failed rows")
        tap.ok(not v.action_buttons(), "the viewer's list has no action buttons",
               [b.text for b in v.action_buttons()])
        tap.ok(not v.els("input[type=checkbox][name=id]"), "the viewer's list has no row checkboxes")
        v.go("/n/%s" % failed_ids[0])
        v.wait(lambda: v.el("#attempts"), what="the viewer's detail page")
        tap.ok(v.el("#attempts") is not None, "the viewer opens a detail")
        tap.ok(not v.action_buttons(), "the viewer's detail has no action buttons",
               [b.text for b in v.action_buttons()])
        v.shot("viewer_detail.png")
    finally:
        v.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the admin listener, e.g. http://127.0.0.1:8089")
    ap.add_argument("--admin", required=True, help="ROLE:PASSWORD of an admin role")
    ap.add_argument("--viewer", required=True, help="ROLE:PASSWORD of a read-only role")
    ap.add_argument("--out", required=True, help="directory for the screenshots")
    ap.add_argument("--failed-ids", required=True, help="ids (comma-separated) the Gagal tab must list")
    ap.add_argument("--resend-id", required=True, help="a delivery failure to send again")
    ap.add_argument("--resend-number", required=True, help="its recipient (628...)")
    ap.add_argument("--failed-error", required=True, help="a piece of its failure as the page shows it")
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
            % args.resend_id]
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
