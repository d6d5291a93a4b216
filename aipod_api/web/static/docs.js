/* aipod_api documentation page: language switch and try-it console.
 * Plain JS, no dependencies. Responses are rendered with textContent only. */
(function () {
  "use strict";

  var KEY_STORE = "aipod_api_key";
  var LANG_STORE = "aipod_docs_lang";
  var root = document.documentElement;

  function $(id) { return document.getElementById(id); }
  function store(name, value) {
    try {
      if (value === undefined) return window.localStorage.getItem(name);
      if (value === null || value === "") window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, value);
    } catch (e) { /* storage disabled */ }
    return null;
  }

  var config = {};
  try { config = JSON.parse($("docs-config").textContent) || {}; } catch (e) { config = {}; }

  /* ---------- language ---------- */
  var T = {
    zh: { title: "aipod_api · API 文档", sending: "请求中…", copied: "已复制", copy: "复制",
          netErr: "网络错误", badPath: "路径必须以 / 开头", getBody: "GET 请求不发送请求体",
          keyPh: "fg_live_... (可选)", noResp: "(空响应)" },
    en: { title: "aipod_api · API docs", sending: "Sending…", copied: "Copied", copy: "Copy",
          netErr: "Network error", badPath: "Path must start with /", getBody: "GET requests are sent without a body",
          keyPh: "fg_live_... (optional)", noResp: "(empty response)" }
  };
  function norm(l) { return l === "en" ? "en" : (l === "zh" ? "zh" : null); }
  // The browser's preference: the first of its languages that is Chinese or English.
  function browserLang() {
    var langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
    for (var i = 0; i < langs.length; i++) {
      var l = String(langs[i] || "").toLowerCase();
      if (l === "zh" || l.indexOf("zh-") === 0) return "zh";
      if (l === "en" || l.indexOf("en-") === 0) return "en";
    }
    return null;
  }
  // An explicit ?lang= link, then the user's own choice, then the browser's languages.
  var lang = norm(new URLSearchParams(location.search).get("lang")) ||
             norm(store(LANG_STORE)) || browserLang() || norm(config.langDefault) || "zh";

  function t(k) { return T[lang][k]; }

  function applyLang(l, persist) {
    lang = norm(l) || "zh";
    root.setAttribute("data-lang", lang);
    root.setAttribute("lang", lang === "en" ? "en" : "zh-CN");
    document.title = t("title");
    ["zh", "en"].forEach(function (x) {
      var b = $("lang-" + x);
      if (b) b.setAttribute("aria-pressed", String(x === lang));
    });
    var key = $("api-key");
    if (key) key.placeholder = t("keyPh");
    document.querySelectorAll(".copy").forEach(function (b) { b.textContent = t("copy"); });
    if (persist) {
      store(LANG_STORE, lang);
      try {
        var u = new URL(location.href);
        if (u.searchParams.has("lang")) {
          u.searchParams.set("lang", lang);
          history.replaceState(null, "", u.toString());
        }
      } catch (e) { /* ignore */ }
    }
  }

  document.querySelectorAll("[data-set-lang]").forEach(function (b) {
    b.addEventListener("click", function () { applyLang(b.getAttribute("data-set-lang"), true); });
  });

  /* ---------- static page helpers ---------- */
  var here = location.origin && /^https?:/.test(location.origin) ? location.origin : null;
  var origin = $("origin");
  if (origin && here) origin.textContent = here;

  // The examples are written for http://localhost:5001; show this page's own origin
  // instead (the copy buttons copy what is shown). Blocks about running a server locally
  // keep the default address (data-keep-origin).
  var WRITTEN_FOR = "http://localhost:5001";
  if (here && here !== WRITTEN_FOR) {
    document.querySelectorAll("main pre.code").forEach(function (pre) {
      if (pre.closest("[data-keep-origin]")) return;
      var walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
      for (var n = walker.nextNode(); n; n = walker.nextNode()) {
        if (n.nodeValue.indexOf(WRITTEN_FOR) >= 0) n.nodeValue = n.nodeValue.split(WRITTEN_FOR).join(here);
      }
    });
  }

  // Copy buttons on code blocks (copies only the visible language).
  document.querySelectorAll("pre.code").forEach(function (pre) {
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "copy";
    btn.textContent = T[lang].copy;
    btn.addEventListener("click", function () {
      var code = pre.querySelector("code");
      copyText((code || pre).innerText, btn);
    });
    pre.appendChild(btn);
  });

  function copyText(text, btn) {
    function done() {
      if (!btn) return;
      // Keep the button's own nodes (e.g. its zh/en spans) and put them back afterwards;
      // a click during the feedback only restarts the timer.
      if (!btn._saved) btn._saved = Array.prototype.slice.call(btn.childNodes);
      btn.textContent = t("copied");
      clearTimeout(btn._restore);
      btn._restore = setTimeout(function () {
        btn.textContent = "";
        if (btn.classList.contains("copy")) btn.textContent = t("copy");  // follows the language
        else btn._saved.forEach(function (node) { btn.appendChild(node); });
        btn._saved = null;
      }, 1200);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else { fallbackCopy(text); done(); }
  }
  function fallbackCopy(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand("copy"); } catch (e) { /* ignore */ }
    document.body.removeChild(ta);
  }

  // The seed's task deadline lies in the past; keep the try-it example valid.
  function futureDeadline() {
    var d = new Date(Date.now() + 7 * 86400000);
    d.setUTCHours(8, 0, 0, 0);
    return d.toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  document.querySelectorAll("[data-body]").forEach(function (el) {
    try {
      var obj = JSON.parse(el.getAttribute("data-body"));
      if (obj && typeof obj.deadline === "string") {
        var when = Date.parse(obj.deadline);
        if (!isNaN(when) && when < Date.now() + 3600000) {
          obj.deadline = futureDeadline();
          el.setAttribute("data-body", JSON.stringify(obj));
        }
      }
    } catch (e) { /* leave as is */ }
  });

  // Highlight the section in view: the last one whose top has passed a line a third of
  // the way down the screen (below the sticky bars). At the very bottom of the page,
  // sections too short to reach that line count once on screen; a section picked in the
  // sidebar stays highlighted while it is on screen, until the user scrolls.
  var links = {};
  var sidebar = $("sidebar");
  document.querySelectorAll(".sidebar a[href^='#']").forEach(function (a) {
    var id = a.getAttribute("href").slice(1);
    links[id] = a;
    a.addEventListener("click", function () { picked = id; });
  });
  var sections = Array.prototype.slice.call(document.querySelectorAll("main section[id]"));
  var picked = null, spyQueued = false, shown = null;
  ["wheel", "touchstart", "keydown"].forEach(function (ev) {
    window.addEventListener(ev, function () { picked = null; }, { passive: true });
  });
  function spyTargets() {
    var list = sections.slice(), c = $("console");
    // The console is a section of its own where it sits below the content (narrow screens).
    if (c && links.console && getComputedStyle(c).position !== "sticky") list.push(c);
    return list;
  }
  function onScreen(el, top) {
    var r = el.getBoundingClientRect();
    return r.bottom > top && r.top < window.innerHeight;
  }
  function spy() {
    spyQueued = false;
    var list = spyTargets();
    if (!list.length) return;
    var pad = parseFloat(getComputedStyle(root).scrollPaddingTop) || 0;
    var line = pad + Math.max(8, (window.innerHeight - pad) / 3);
    var doc = document.documentElement;
    var atBottom = window.innerHeight + window.scrollY >= doc.scrollHeight - 2;
    if (atBottom) line = window.innerHeight - 1;
    var cur = list[0];
    list.forEach(function (s) { if (s.getBoundingClientRect().top <= line) cur = s; });
    if (picked && $(picked) && onScreen($(picked), pad)) cur = $(picked);
    Object.keys(links).forEach(function (id) { links[id].classList.toggle("active", id === cur.id); });
    if (cur.id === shown) return;  // the nav is left where the user put it until the section changes
    shown = cur.id;
    var a = links[cur.id];
    if (a && sidebar && sidebar.scrollWidth > sidebar.clientWidth) {
      // Horizontal nav (narrow screens): keep the highlighted link visible.
      var left = a.offsetLeft;  // the sticky sidebar is the link's offsetParent
      if (left < sidebar.scrollLeft || left + a.offsetWidth > sidebar.scrollLeft + sidebar.clientWidth) {
        sidebar.scrollLeft = Math.max(0, left - (sidebar.clientWidth - a.offsetWidth) / 2);
      }
    }
  }
  function queueSpy() {
    if (spyQueued) return;
    spyQueued = true;
    (window.requestAnimationFrame || setTimeout)(spy);
  }
  window.addEventListener("scroll", queueSpy, { passive: true });
  window.addEventListener("resize", function () { shown = null; queueSpy(); });
  window.addEventListener("hashchange", queueSpy);
  window.addEventListener("load", queueSpy);

  /* ---------- console ---------- */
  var keyEl = $("api-key"), methodEl = $("method"), pathEl = $("path"), bodyEl = $("body");
  var sendEl = $("send"), outEl = $("console-output"), statusEl = $("console-status");
  var headersEl = $("console-headers"), useKeyEl = $("use-key"), consoleEl = $("console");
  var lastKey = null, controller = null;

  var savedKey = store(KEY_STORE);
  keyEl.value = savedKey || config.demoKey || "";
  keyEl.addEventListener("input", function () { store(KEY_STORE, keyEl.value.trim()); });

  function setStatus(text, cls) {
    statusEl.textContent = text;
    statusEl.className = "status" + (cls ? " " + cls : "");
  }

  function normPath(p) {
    p = (p || "").trim();
    if (!p) return "/v1/status";
    // Same-origin only: strip any scheme://host the user pasted.
    p = p.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
    if (p.charAt(0) !== "/") p = "/" + p;
    return p;
  }

  function send() {
    var method = methodEl.value.toUpperCase();
    var path = normPath(pathEl.value);
    pathEl.value = path;
    var key = keyEl.value.trim();
    var body = bodyEl.value.trim();
    var headers = { "Accept": "application/json", "Accept-Language": lang === "en" ? "en" : "zh-CN" };
    if (key) headers["Authorization"] = "Bearer " + key;
    var opts = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    var note = "";
    if (body) {
      if (method === "GET" || method === "HEAD") note = t("getBody");
      else { opts.body = body; headers["Content-Type"] = "application/json"; }
    }
    if (controller) controller.abort();
    controller = ("AbortController" in window) ? new AbortController() : null;
    if (controller) opts.signal = controller.signal;
    var mine = controller;

    setStatus(t("sending"), "pending");
    statusEl.removeAttribute("data-status");
    headersEl.textContent = note;
    outEl.textContent = "";
    useKeyEl.hidden = true;
    sendEl.disabled = true;
    var started = performance.now();
    var resp = null;

    return fetch(path, opts).then(function (r) {
      resp = r;
      return r.text();
    }).then(function (text) {
      if (mine !== controller) return;
      var ms = Math.round(performance.now() - started);
      statusEl.setAttribute("data-status", String(resp.status));
      statusEl.setAttribute("data-ms", String(ms));
      setStatus(method + " " + path + "  →  " + resp.status + " " + (resp.statusText || "") + " · " + ms + " ms",
                resp.ok ? "ok" : "err");
      var hs = [];
      ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "Idempotent-Replayed"].forEach(function (h) {
        var v = resp.headers.get(h);
        if (v !== null) hs.push(h + ": " + v);
      });
      headersEl.textContent = (note ? note + " · " : "") + hs.join(" · ");
      var parsed;
      try { parsed = JSON.parse(text); } catch (e) { parsed = undefined; }
      outEl.textContent = parsed === undefined ? (text || t("noResp")) : JSON.stringify(parsed, null, 2);
      lastKey = parsed && parsed.data && typeof parsed.data.api_key === "string" ? parsed.data.api_key : null;
      useKeyEl.hidden = !lastKey;
    }).catch(function (err) {
      if (err && err.name === "AbortError") return;
      var ms = Math.round(performance.now() - started);
      statusEl.setAttribute("data-status", "0");
      statusEl.setAttribute("data-ms", String(ms));
      setStatus(t("netErr") + " · " + ms + " ms", "err");
      outEl.textContent = String(err && err.message ? err.message : err);
    }).then(function () {
      if (mine === controller) { sendEl.disabled = false; controller = null; }
    });
  }

  sendEl.addEventListener("click", function () { send(); });
  [pathEl, keyEl].forEach(function (el) {
    el.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); send(); } });
  });
  bodyEl.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
  });

  useKeyEl.addEventListener("click", function () {
    if (!lastKey) return;
    keyEl.value = lastKey;
    store(KEY_STORE, lastKey);
    useKeyEl.hidden = true;
    flash(keyEl);
  });

  function shellQuote(s) { return "'" + String(s).replace(/'/g, "'\\''") + "'"; }
  $("copy-curl").addEventListener("click", function (e) {
    var method = methodEl.value.toUpperCase(), path = normPath(pathEl.value);
    var key = keyEl.value.trim(), body = bodyEl.value.trim();
    var cmd = "curl" + (method !== "GET" ? " -X " + method : "") + " " + shellQuote(location.origin + path);
    if (key) cmd += " \\\n  -H " + shellQuote("Authorization: Bearer " + key);
    if (lang === "en") cmd += " \\\n  -H 'Accept-Language: en'";
    if (body && method !== "GET") cmd += " \\\n  -H 'Content-Type: application/json' \\\n  -d " + shellQuote(body);
    copyText(cmd, e.currentTarget);
  });

  function flash(el) {
    el.classList.remove("flash");
    void el.offsetWidth;
    el.classList.add("flash");
  }

  function prettyBody(raw) {
    if (!raw) return "";
    try { return JSON.stringify(JSON.parse(raw), null, 2); } catch (e) { return raw; }
  }

  // Try-it buttons: data-try="METHOD PATH" [data-body='{"json": ...}']
  document.addEventListener("click", function (e) {
    var btn = e.target.closest ? e.target.closest("[data-try]") : null;
    if (!btn) return;
    e.preventDefault();
    var spec = btn.getAttribute("data-try").trim();
    var i = spec.indexOf(" ");
    var method = (i > 0 ? spec.slice(0, i) : "GET").toUpperCase();
    var path = i > 0 ? spec.slice(i + 1).trim() : spec;
    if (!Array.prototype.some.call(methodEl.options, function (o) { return o.value === method; })) {
      var opt = document.createElement("option");
      opt.textContent = method;
      methodEl.appendChild(opt);
    }
    methodEl.value = method;
    pathEl.value = path;
    bodyEl.value = prettyBody(btn.getAttribute("data-body"));
    var r = consoleEl.getBoundingClientRect();
    if (r.top > window.innerHeight || r.bottom < 0 || getComputedStyle(consoleEl).position !== "sticky") {
      consoleEl.scrollIntoView({ behavior: "smooth", block: "start" });
    }
    flash(consoleEl);
    if (method === "GET") send();
    else {
      if (controller) { controller.abort(); controller = null; sendEl.disabled = false; }
      setStatus("", "");
      statusEl.removeAttribute("data-status");
      headersEl.textContent = "";
      outEl.textContent = "";
      useKeyEl.hidden = true;
      sendEl.focus({ preventScroll: true });
    }
  });

  applyLang(lang, false);
  spy();
})();
