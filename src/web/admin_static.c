/*-------------------------------------------------------------------------
 *
 * admin_static.c
 *		The page's two static files: the style sheet and the one script
 *		(auto-refresh every 30 s with a pause toggle, WCAG 2.2.2; the page
 *		works without it).  Same origin, so the Content-Security-Policy
 *		default-src 'self' allows them; no inline script or style anywhere.
 *
 * src/web/admin_static.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include <microhttpd.h>

#include "admin.h"

static const char css[] =
"body{font-family:system-ui,sans-serif;margin:0;color:#1a1a1a;background:#fff;line-height:1.4}\n"
"header{display:flex;flex-wrap:wrap;gap:1em;align-items:center;padding:.5em 1em;background:#0b3d60;color:#fff}\n"
"header a,header button{color:#fff}\n"
"header nav ul{display:flex;gap:1em;list-style:none;margin:0;padding:0}\n"
".app{font-weight:bold;margin:0}\n"
".logout{margin-left:auto}\n"
"header button{background:transparent;border:1px solid #fff;padding:.2em .6em}\n"
"main{padding:1em}\n"
"a{color:#0645ad}\n"
":focus-visible{outline:3px solid #d35400;outline-offset:2px}\n"
".skip{position:absolute;left:-9999px}\n"
".skip:focus{left:1em;top:1em;background:#fff;color:#000;padding:.5em;z-index:10}\n"
".vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}\n"
"#tabs ul{display:flex;flex-wrap:wrap;gap:.3em;list-style:none;padding:0}\n"
"#tabs a{display:inline-block;padding:.3em .7em;border:1px solid #888;border-radius:4px;text-decoration:none}\n"
"#tabs a.current{background:#0b3d60;color:#fff;font-weight:bold}\n"
".count{font-weight:bold}\n"
"table{border-collapse:collapse;width:100%;margin:.5em 0}\n"
"th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\n"
"caption{text-align:left;font-weight:bold;padding:.3em 0}\n"
".status-failed,.status-attention{color:#a00000;font-weight:bold}\n"
".status-read,.status-delivered{color:#1e6b1e}\n"
".banner{padding:.5em 1em;border-left:6px solid #1e6b1e;background:#eef7ee}\n"
".banner.problem{border-color:#a00000;background:#fdecea}\n"
"#flash{padding:.5em 1em;background:#fff8d6;border:1px solid #c9a400}\n"
"#login-error,#error{color:#a00000;font-weight:bold}\n"
"fieldset{border:1px solid #ccc;margin:.5em 0}\n"
"pre{white-space:pre-wrap;background:#f5f5f5;padding:.5em}\n"
"form.action{display:inline}\n"
".optout{color:#a00000}\n";

static const char js[] =
"/* guestbook_notify_web: reload the page every 30 s unless paused (the choice is kept). */\n"
"(function () {\n"
"  'use strict';\n"
"  var btn = document.getElementById('refresh-toggle');\n"
"  if (!btn) { return; }\n"
"  var en = document.documentElement.lang === 'en';\n"
"  var pauseText = en ? 'Pause refresh' : 'Jeda muat ulang';\n"
"  var resumeText = en ? 'Resume refresh' : 'Lanjutkan muat ulang';\n"
"  var paused = false;\n"
"  try { paused = window.localStorage.getItem('gbn_refresh_paused') === '1'; } catch (e) {}\n"
"  var timer = null;\n"
"  function show() {\n"
"    btn.textContent = paused ? resumeText : pauseText;\n"
"    btn.setAttribute('aria-pressed', paused ? 'true' : 'false');\n"
"  }\n"
"  function arm() {\n"
"    if (timer) { window.clearTimeout(timer); timer = null; }\n"
"    if (!paused) { timer = window.setTimeout(function () { window.location.reload(); }, 30000); }\n"
"  }\n"
"  btn.addEventListener('click', function () {\n"
"    paused = !paused;\n"
"    try { window.localStorage.setItem('gbn_refresh_paused', paused ? '1' : '0'); } catch (e) {}\n"
"    show(); arm();\n"
"  });\n"
"  btn.hidden = false;\n"
"  show(); arm();\n"
"})();\n";

int
admin_static(AdminCtx *c, const char *name)
{
	if (strcmp(name, "page.css") == 0)
		return admin_send(c, MHD_HTTP_OK, "text/css; charset=utf-8", css, sizeof(css) - 1,
						  NULL, NULL);
	if (strcmp(name, "refresh.js") == 0)
		return admin_send(c, MHD_HTTP_OK, "text/javascript; charset=utf-8", js, sizeof(js) - 1,
						  NULL, NULL);
	return admin_send(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n", 10,
					  NULL, NULL);
}
