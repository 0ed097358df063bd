/* The chat inside the widget's iframe (served by Atendo, strict CSP: no inline code).
   Talks to Atendo over a WebSocket (SSE + POST where WebSockets are blocked); every text it
   shows comes from the frame's config (the widget's catalog) or is the conversation itself,
   always set as text, never as HTML. */
(function () {
  "use strict";
  var C = JSON.parse(document.body.getAttribute("data-config"));
  var T = C.texts, ID = C.id, root = "/widget/" + encodeURIComponent(ID);
  var site = new URLSearchParams(location.search).get("site") || "*";
  var store = "atendo:" + ID;
  var token = localStorage.getItem(store) || "";
  var typingTimer = 0;
  var lastEvent = 0, ws = null, es = null, failures = 0, opened = false, useSse = false;
  var known = false, online = true, operator = "", shown = {}, pendingOut = {}, page = {}, identify = null;
  var prechatDone = localStorage.getItem(store + ":prechat") === "1";
  document.documentElement.style.setProperty("--c", C.color);

  function el(tag, attrs, text) {
    var n = document.createElement(tag);
    for (var k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text != null) n.textContent = text;
    return n;
  }
  function fmt(s, v) { return s.replace(/%\((\w+)\)s/g, function (_, k) { return v[k] == null ? "" : v[k]; }); }

  // --- the page --------------------------------------------------------------------------
  var app = el("div", { class: "app" });
  var head = el("header");
  var titles = el("div", { class: "titles" });
  titles.appendChild(el("h1", {}, T.title));
  var status = el("p", { class: "status", "data-testid": "widget-status", "aria-live": "polite" });
  titles.appendChild(status);
  var close = el("button", { type: "button", class: "x", "aria-label": T.close, title: T.close,
    "data-testid": "widget-close" }, "×");
  close.addEventListener("click", function () { parent.postMessage({ atendo: "close" }, site); });
  head.appendChild(titles); head.appendChild(close);
  var list = el("ol", { class: "msgs", "aria-live": "polite" });
  var greet = el("li", { class: "greet" }, T.greeting);
  list.appendChild(greet);
  var typing = el("p", { class: "typing", "data-testid": "widget-typing", hidden: "" });
  var notice = el("p", { class: "notice", role: "alert", hidden: "" });
  var form = el("form", { class: "composer" });
  var input = el("textarea", { rows: "1", "data-testid": "widget-input", placeholder: T.placeholder,
    "aria-label": T.placeholder, maxlength: String(C.maxText) });
  var file = el("input", { type: "file", hidden: "", "data-testid": "widget-file" });
  var attach = el("button", { type: "button", class: "attach", "aria-label": T.attach, title: T.attach,
    "data-testid": "widget-attach" });
  attach.innerHTML = '<svg width="22" height="22" viewBox="0 0 24 24" fill="none" stroke="currentColor" ' +
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="m21.4 11.1-9.2 ' +
    '9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5"/></svg>';
  var send = el("button", { type: "submit", class: "send", "data-testid": "widget-send" }, T.send);
  if (C.uploads) { form.appendChild(attach); form.appendChild(file); }
  form.appendChild(input); form.appendChild(send);
  app.appendChild(head); app.appendChild(list); app.appendChild(typing); app.appendChild(notice);
  app.appendChild(form);
  document.body.appendChild(app);

  // --- pre-chat and offline forms -------------------------------------------------------------
  var pre = null, preInputs = {};
  function field(name, type, label, level, testid, box) {
    var wrap = el("label", { class: "field" });
    wrap.appendChild(el("span", {}, label + (level === "optional" ? " (" + T.optional + ")" : "")));
    var inp = el("input", { type: type, name: name, "data-testid": testid, maxlength: "200" });
    if (level === "required") inp.required = true;
    wrap.appendChild(inp); box.appendChild(wrap);
    return inp;
  }
  function consent(box) {
    if (!T.consent_text) return null;
    var wrap = el("label", { class: "consent" });
    var box2 = el("input", { type: "checkbox", required: "", "data-testid": "widget-consent" });
    wrap.appendChild(box2);
    var span = el("span");
    T.consent_text.split(/(https?:\/\/[^\s]+)/).forEach(function (part, i) {
      if (i % 2) { var a = el("a", { href: part, target: "_blank", rel: "noopener noreferrer" }, part); span.appendChild(a); }
      else span.appendChild(document.createTextNode(part));
    });
    wrap.appendChild(span); box.appendChild(wrap);
    return box2;
  }
  function buildPrechat() {
    var P = C.prechat, any = P.name !== "off" || P.email !== "off" || P.phone !== "off";
    if (!any || known || prechatDone || pre) return;
    pre = el("form", { class: "card prechat", novalidate: "" });
    if (P.name !== "off") preInputs.name = field("name", "text", T.name, P.name, "widget-prechat-name", pre);
    if (P.email !== "off") preInputs.email = field("email", "email", T.email, P.email, "widget-prechat-email", pre);
    if (P.phone !== "off") preInputs.phone = field("phone", "tel", T.phone, P.phone, "widget-prechat-phone", pre);
    var agree = consent(pre);
    var go = el("button", { type: "submit", "data-testid": "widget-prechat-submit" }, T.start);
    pre.appendChild(go);
    pre.addEventListener("submit", function (e) {
      e.preventDefault();
      var bad = checkPrechat(agree);
      if (bad) { say(bad); return; }
      say(""); prechatDone = true; localStorage.setItem(store + ":prechat", "1");
      pre.remove(); pre = null; input.focus();
    });
    list.appendChild(pre);
  }
  function checkPrechat(agree) {
    var P = C.prechat;
    for (var k in preInputs) {
      var v = preInputs[k].value.trim();
      if (P[k] === "required" && !v) { preInputs[k].focus(); return T.required; }
      if (k === "email" && v && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) { preInputs[k].focus(); return T.bad_email; }
      if (k === "phone" && v && !/^\+?[0-9 ()\-.]{6,25}$/.test(v)) { preInputs[k].focus(); return T.bad_phone; }
    }
    if (agree && !agree.checked) { agree.focus(); return T.required; }
    return "";
  }
  function meta() {
    var m = { page: page.url || "", title: page.title || "", referrer: page.referrer || "",
      browser: navigator.userAgent, language: navigator.language || "" };
    try { m.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (x) { /* old browser */ }
    for (var k in preInputs) if (preInputs[k].value.trim()) m[k] = preInputs[k].value.trim();
    var saved = JSON.parse(localStorage.getItem(store + ":meta") || "{}");
    for (var s in saved) if (!m[s]) m[s] = saved[s];
    localStorage.setItem(store + ":meta", JSON.stringify({ name: m.name, email: m.email, phone: m.phone }));
    return m;
  }
  var off = null;
  function buildOffline() {
    if (off || known || online || operator) return;
    off = el("form", { class: "card offline", novalidate: "" });
    off.appendChild(el("p", {}, T.away));
    var name = field("name", "text", T.name, "optional", "widget-offline-name", off);
    var email = field("email", "email", T.email, "required", "widget-offline-email", off);
    var wrap = el("label", { class: "field" });
    wrap.appendChild(el("span", {}, T.message));
    var text = el("textarea", { rows: "3", required: "", "data-testid": "widget-offline-text", maxlength: String(C.maxText) });
    wrap.appendChild(text); off.appendChild(wrap);
    var go = el("button", { type: "submit", "data-testid": "widget-offline-submit" }, T.offline_send);
    off.appendChild(go);
    off.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.value.trim())) { say(T.bad_email); email.focus(); return; }
      if (!text.value.trim()) { say(T.required); text.focus(); return; }
      go.disabled = true;
      post(root + "/offline", { token: token, lang: C.lang, email: email.value.trim(), name: name.value.trim(), text: text.value.trim() })
        .then(function (r) {
          go.disabled = false;
          if (r.error) { say(r.message); return; }
          say(""); off.textContent = ""; off.appendChild(el("p", { "data-testid": "widget-offline-done" }, r.message));
        });
    });
    list.appendChild(off);
    form.hidden = true;
  }

  // --- messages ------------------------------------------------------------------------------
  var noticeKind = "";
  function say(text, kind) { notice.textContent = text; notice.hidden = !text; noticeKind = text ? kind || "" : ""; }
  function setStatus() {
    status.textContent = operator ? fmt(T.assigned, { name: operator }) : online ? T.waiting : "";
  }
  function show(m, pendingKey) {
    var li = shown[m.id] || (pendingKey && pendingOut[pendingKey] && pendingOut[pendingKey].li);
    var fresh = !li;
    if (fresh) li = el("li");
    li.className = "msg " + m.author;
    li.setAttribute("data-testid", "widget-message");
    li.setAttribute("data-author", m.author);
    li.textContent = "";
    if (m.author === "operator") li.appendChild(el("span", { class: "who" }, m.name || T.agent));
    if (m.text) li.appendChild(el("p", {}, m.text));
    (m.files || []).forEach(function (f) {
      var url = f.url + "?token=" + encodeURIComponent(token);
      var a = el("a", { href: url, target: "_blank", rel: "noopener", class: "file" });
      if (/^image\/(png|jpeg|gif|webp)$/.test(f.type)) a.appendChild(el("img", { src: url, alt: f.name }));
      else a.textContent = f.name;
      li.appendChild(a);
    });
    if (m.author === "operator" && m.buttons && m.buttons.length) {
      var row = el("div", { class: "choices", "data-testid": "widget-choices" });
      m.buttons.forEach(function (b) {
        var choice = el("button", { type: "button", class: "choice", "data-testid": "widget-choice" }, b);
        choice.addEventListener("click", function () { input.value = b; send.click(); });
        row.appendChild(choice);
      });
      li.appendChild(row);
    }
    if (m.author === "visitor") {
      li.appendChild(el("span", { class: "mark", "data-testid": "widget-mark" },
        m.pending ? T.sending : m.read ? T.read : T.delivered));
    }
    if (m.id) { shown[m.id] = li; li.setAttribute("data-id", m.id); }
    if (fresh) list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }
  function received(f) {
    if (f.e && f.e > lastEvent) lastEvent = f.e;
    if (f.t === "hello") {
      online = f.online; operator = f.operator || operator; setStatus();
      if (!known) { buildPrechat(); buildOffline(); }
      resend();
    } else if (f.t === "msg") {
      if (shown[f.m.id] && f.m.author === "visitor") return;
      known = true; if (off) { off.remove(); off = null; form.hidden = false; }
      var k = f.m.key && pendingOut[f.m.key] ? f.m.key :
        Object.keys(pendingOut).filter(function (x) { return pendingOut[x].id === f.m.id; })[0];
      show(f.m, k); if (k) delete pendingOut[k];
      if (f.m.author === "operator") {
        typing.hidden = true;
        if (!operator && f.m.name) { operator = f.m.name; setStatus(); }
        parent.postMessage({ atendo: "message", message: { text: f.m.text, name: f.m.name, at: f.m.at } }, site);
      }
    } else if (f.t === "ack") {
      var p = pendingOut[f.key];
      if (p) { p.id = f.id; if (!shown[f.id]) { shown[f.id] = p.li; p.li.querySelector(".mark").textContent = T.delivered; } }
      known = true;
    } else if (f.t === "read") {
      f.ids.forEach(function (id) { var li = shown[id]; if (li && li.querySelector(".mark")) li.querySelector(".mark").textContent = T.read; });
    } else if (f.t === "status") {
      operator = f.operator || ""; setStatus();
    } else if (f.t === "typing") {
      typing.textContent = f.name ? fmt(T.typing, { name: f.name }) : T.typing_anon;
      typing.hidden = !f.on;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typing.hidden = true; }, 6000);
    } else if (f.t === "error") {
      say(f.text);
    }
  }
  function resend() {
    Object.keys(pendingOut).forEach(function (k) { if (!pendingOut[k].id && pendingOut[k].frame) transmit(pendingOut[k].frame); });
  }
  function transmit(frame) {
    if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return; }
    if (useSse) {
      var body = new FormData();
      body.append("token", token); body.append("lang", C.lang);
      body.append("text", frame.text); body.append("key", frame.key);
      for (var k in frame.meta) body.append(k, frame.meta[k]);
      postForm(body);
    }
  }
  function postForm(body) {
    return fetch(root + "/messages", { method: "POST", body: body, credentials: "omit" })
      .then(function (r) { return r.json(); })
      .then(function (r) { if (r.error) say(r.message); else (r.frames || []).forEach(received); return r; })
      .catch(function () { say(T.failed); });
  }
  function post(url, data) {
    return fetch(url, { method: "POST", body: JSON.stringify(data), credentials: "omit",
      headers: { "Content-Type": "application/json" } })
      .then(function (r) { return r.json(); })
      .catch(function () { return { error: "failed", message: T.failed }; });
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (pre) { var bad = checkPrechat(pre.querySelector("[data-testid=widget-consent]")); if (bad) { say(bad); return; } }
    say("");
    var key = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    var frame = { t: "msg", text: text, key: key, meta: meta() };
    var li = show({ author: "visitor", text: text, pending: true, files: [] });
    pendingOut[key] = { frame: frame, li: li, id: 0 };
    input.value = ""; grow();
    if (pre) { prechatDone = true; localStorage.setItem(store + ":prechat", "1"); pre.remove(); pre = null; }
    transmit(frame);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); send.click(); }
  });
  var lastTyping = 0;
  function grow() { input.style.height = "auto"; input.style.height = Math.min(input.scrollHeight, 120) + "px"; }
  input.addEventListener("input", function () {
    grow();
    var now = Date.now();
    if (ws && ws.readyState === 1 && now - lastTyping > 3000) { lastTyping = now; ws.send('{"t":"typing"}'); }
  });

  // --- files: the button, paste and drag-and-drop ----------------------------------------------
  function upload(f) {
    if (!C.uploads) { say(T.no_uploads); return; }
    if (f.size > C.maxUpload) { say(fmt(T.too_big, { size: Math.round(C.maxUpload / 1048576) + " MB" })); return; }
    var body = new FormData();
    var key = Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
    body.append("token", token); body.append("lang", C.lang); body.append("key", key);
    body.append("text", input.value.trim()); input.value = "";
    var m = meta(); for (var k in m) body.append(k, m[k]);
    body.append("file", f, f.name || "image.png");
    say("");
    var li = show({ author: "visitor", text: f.name || "", pending: true, files: [] });
    pendingOut[key] = { frame: null, li: li, id: 0 };
    postForm(body).then(function (r) { if (!r || r.error) { li.remove(); delete pendingOut[key]; } });
  }
  attach.addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () { if (file.files[0]) upload(file.files[0]); file.value = ""; });
  input.addEventListener("paste", function (e) {
    var items = (e.clipboardData || {}).files || [];
    if (items.length) { e.preventDefault(); upload(items[0]); }
  });
  app.addEventListener("dragover", function (e) { e.preventDefault(); app.classList.add("drop"); });
  app.addEventListener("dragleave", function () { app.classList.remove("drop"); });
  app.addEventListener("drop", function (e) {
    e.preventDefault(); app.classList.remove("drop");
    if (e.dataTransfer.files[0]) upload(e.dataTransfer.files[0]);
  });

  // --- the connection ------------------------------------------------------------------------
  function connect() {
    if (useSse) return connectSse();
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + root + "/ws?token=" + encodeURIComponent(token) +
      "&after=" + lastEvent + "&lang=" + encodeURIComponent(C.lang));
    ws.onopen = function () { opened = true; failures = 0; if (noticeKind === "conn") say(""); };
    ws.onmessage = function (e) { received(JSON.parse(e.data)); };
    ws.onclose = function (e) {
      ws = null;
      if (e.code === 4401 || e.code === 4403) { say(T.refused); return; }
      failures += 1;
      if (!opened && failures >= 2) { useSse = true; return connectSse(); }
      say(T.reconnecting, "conn");
      setTimeout(connect, Math.min(10000, 500 * Math.pow(2, failures)));
    };
  }
  function connectSse() {
    if (es) es.close();
    es = new EventSource(root + "/events?token=" + encodeURIComponent(token) + "&after=" + lastEvent);
    es.onmessage = function (e) { if (noticeKind === "conn") say(""); received(JSON.parse(e.data)); };
    es.onerror = function () { say(T.reconnecting, "conn"); };
  }
  function start() {
    post(root + "/session", { token: token, lang: C.lang, identify: identify }).then(function (r) {
      if (r.error) { say(r.message); form.hidden = true; return; }
      if (r.verified === false) say(T.identity_refused);
      token = r.token; localStorage.setItem(store, token);
      known = r.known; online = r.online; operator = r.operator; setStatus();
      if (ws) { ws.onclose = null; ws.close(); ws = null; }
      connect();
    });
  }
  window.addEventListener("message", function (e) {
    if (e.source !== parent) return;
    var d = e.data || {};
    if (d.atendo === "page") page = { url: String(d.url || "").slice(0, 1000), title: String(d.title || "").slice(0, 200),
      referrer: String(d.referrer || "").slice(0, 1000) };
    if (d.atendo === "identify") { identify = d.identify; start(); }
    if (d.atendo === "opened") input.focus();
  });
  start();
})();
