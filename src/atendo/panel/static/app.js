// Atendo panel: live updates (Server-Sent Events), send countdowns, the "/" template picker,
// the "@" mention picker, the "+" for more addresses, putting an interrupted text back into
// the composer, and the team's parts: the open conversation merged in place, presence on a
// chat, notifications, the unread count in the title, the status chooser.
// Every behaviour lives here: the panel's Content-Security-Policy allows no inline script,
// so templates only carry data-* attributes (data-confirm, data-autosubmit, data-close-drawer,
// data-navigate-param, data-no-submit, data-reset-after-send, data-list-refresh,
// data-images-refresh) that the listeners below act on.
(function () {
  "use strict";

  var HEAD_EVENTS = ["dialog_transferred", "close_dialog", "reopen_dialog", "add_tag_to_client",
    "add_tag_to_request", "delete_tag_from_client", "delete_tag_from_request"];
  var baseTitle = document.title;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (_) { return ""; }
  }

  function openDialogId() {
    var pane = document.querySelector("[data-dialog-pane]");
    return pane ? pane.dataset.dialogPane : "";
  }

  // The list (and the channels page) refresh on "live" at most once per LIVE_EVERY ms, but an
  // event within that time is never dropped: it brings one more refresh at the window's end.
  // (htmx's own throttle drops it: a change pushed right after the stream opened, whose
  // refresh had just read the list, would never show.)
  var LIVE_EVERY = 400;
  var liveAt = 0;
  var liveLater = null;

  function liveRefresh(detail) {
    if (!window.htmx) return;
    var wait = liveAt + LIVE_EVERY - Date.now();
    if (wait <= 0 && !liveLater) {
      liveAt = Date.now();
      htmx.trigger(document.body, "live", detail);
    } else if (!liveLater) {
      liveLater = setTimeout(function () {
        liveLater = null;
        liveAt = Date.now();
        htmx.trigger(document.body, "live", {});
      }, Math.max(wait, 0));
    }
  }

  function startLive() {
    if (!document.body.dataset.live || !window.EventSource) return;
    var source = new EventSource("/live");
    // The stream starts at the newest event when it connects: whatever changed between the
    // page's render and that moment is fetched once now (and after each reconnection).
    source.addEventListener("open", function () {
      liveRefresh({});
    });
    source.addEventListener("change", function (e) {
      var detail = {};
      try { detail = JSON.parse(e.data); } catch (_) { /* keep going */ }
      liveRefresh(detail);
      var open = openDialogId();
      if (open && String(detail.dialog_id) === open) {
        refreshMessages();
        if (HEAD_EVENTS.indexOf(detail.type) >= 0) refreshHead();
      }
      if (detail.notify) notify(detail.notify);
      if (typeof detail.unread === "number") setUnread(detail.unread);
      if (detail.my_status) showStatus(detail.my_status);
    });
    source.addEventListener("presence", function (e) {
      try { presencePushed(JSON.parse(e.data)); } catch (_) { /* keep going */ }
    });
    source.addEventListener("typing", function (e) {
      var detail = {};
      try { detail = JSON.parse(e.data); } catch (_) { return; }
      showTyping(detail);
    });
  }

  // --- The open conversation: merged by key, never re-rendered as a whole ----------------------

  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }

  function paneLost(html) {
    var presence = document.getElementById("presence");
    if (presence) presence.innerHTML = "";
    leave(presenceFor);  // kept as presenceFor: a new pane (even of this chat) tells again
    myState = "";
    clearTimeout(typingStop);
    var notice = document.getElementById("pane-notice");
    if (notice) notice.innerHTML = html;
    var pane = document.querySelector("[data-dialog-pane]");
    if (pane) pane.classList.add("lost");
    var send = document.querySelector("[data-testid=composer-send]");
    if (send) send.disabled = true;
  }

  function fetchFragment(url, options) {
    options = options || {};
    options.headers = Object.assign({ "HX-Request": "true", "X-CSRF-Token": csrfToken() }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options).then(function (r) {
      return r.text().then(function (text) {
        if (r.status === 404 || r.status === 403) { paneLost(text); throw new Error("gone"); }
        if (r.status === 204 && r.headers.get("HX-Redirect")) { window.location.href = r.headers.get("HX-Redirect"); throw new Error("redirect"); }
        if (!r.ok) throw new Error("status " + r.status);
        return text;
      });
    });
  }

  function mergeMessages(html, fromMe) {
    var current = document.getElementById("messages");
    var box = document.getElementById("scroll");
    if (!current || !box) return;
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#messages");
    if (!fresh || fresh.dataset.dialogId !== current.dataset.dialogId) return;
    var wasAtBottom = atBottom(box);
    var keep = {};
    Array.prototype.forEach.call(current.children, function (el) { if (el.dataset.key) keep[el.dataset.key] = el; });
    var seen = {};
    var appended = false;
    var previous = null;
    Array.prototype.slice.call(fresh.children).forEach(function (el) {
      var key = el.dataset.key;
      if (!key) return;
      seen[key] = true;
      var old = keep[key];
      if (old) {
        if (old.dataset.version !== el.dataset.version) { old.replaceWith(el); old = el; }
        previous = old;
        return;
      }
      if (previous && previous.nextSibling) current.insertBefore(el, previous.nextSibling);
      else if (previous) current.appendChild(el);
      else current.insertBefore(el, current.firstChild);
      previous = el;
      if (el.classList.contains("msg") || el.classList.contains("tl")) appended = true;
    });
    Object.keys(keep).forEach(function (key) { if (!seen[key]) keep[key].remove(); });
    current.dataset.lastId = fresh.dataset.lastId;
    if (fresh.dataset.pending) current.dataset.pending = "1"; else delete current.dataset.pending;
    var seenInput = document.querySelector("#composer [name=seen]");
    if (seenInput && fromMe) seenInput.value = fresh.dataset.lastId;
    if (window.htmx) htmx.process(current);  // the new messages' buttons (details, forward)
    init(current);
    if (fromMe || wasAtBottom) { scrollToEnd(); }
    else if (appended) { var pill = document.getElementById("new-pill"); if (pill) pill.hidden = false; }
  }

  var refreshing = null;
  var refreshAgain = false;
  function refreshMessages() {
    var id = openDialogId();
    if (!id) return;
    if (refreshing) { refreshAgain = true; return; }
    var images = Array.from(document.querySelectorAll("[data-images-shown]")).map(function (e) { return "images=" + e.dataset.imagesShown; });
    refreshing = fetchFragment("/chats/" + id + "/messages" + (images.length ? "?" + images.join("&") : ""))
      .then(function (html) { if (openDialogId() === id) mergeMessages(html, false); })
      .catch(function () { /* shown by paneLost, or tried again on the next event */ })
      .then(function () {
        refreshing = null;
        if (refreshAgain) { refreshAgain = false; refreshMessages(); }
      });
  }

  function refreshHead() {
    var id = openDialogId();
    var head = document.getElementById("dhead");
    if (!id || !head) return;
    if (head.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
    fetchFragment("/chats/" + id + "/head").then(function (html) {
      if (openDialogId() === id) { head.innerHTML = html; if (window.htmx) htmx.process(head); }
    }).catch(function () { /* paneLost said why */ });
  }

  // --- Presence: "Ana está vendo / escrevendo" ------------------------------------------------
  // The server is told when this operator opens a chat, starts or stops typing and leaves it
  // (and, every data-presence-keepalive seconds, only that they are still there); who else is
  // on the chat arrives over the live stream ("presence" events) when it changes, in whatever
  // process it changed. Nothing here asks the server who else is on the chat again.

  var presenceFor = "";  // the chat the server was told we are on
  var myState = "";
  var typingStop = 0;
  var pushed = 0;  // presence events for the open chat: a POST's answer sent before one is stale

  function showPresence(others) {
    var box = document.getElementById("presence");
    if (!box) return;
    box.textContent = "";
    others.forEach(function (p) {
      var span = document.createElement("span");
      span.className = "who-here " + (p.state === "typing" ? "typing" : "viewing");
      span.dataset.testid = "presence-" + (p.state === "typing" ? "typing" : "viewing");
      span.textContent = p.label;
      box.appendChild(span);
    });
  }
  function presenceBody(state) {
    var body = new FormData();
    body.append("state", state);
    return body;
  }
  function tell(state) {
    var id = openDialogId();
    if (!id || document.querySelector(".dialog.lost")) return;
    myState = state;
    var seen = pushed;
    fetchFragment("/chats/" + id + "/presence", { method: "POST", body: presenceBody(state) }).then(function (html) {
      var box = document.getElementById("presence");
      if (box && openDialogId() === id && seen === pushed) box.innerHTML = html;
    }).catch(function () { /* paneLost said why, or the keep-alive tells again */ });
  }
  function keepAlive() {
    var id = openDialogId();
    if (!id || id !== presenceFor || !myState || document.querySelector(".dialog.lost")) return;
    // Its answer is not read: the live stream brings who else is here.
    fetchFragment("/chats/" + id + "/presence", { method: "POST", body: presenceBody(myState) })
      .catch(function () { /* the next keep-alive */ });
  }
  function leave(id) {
    if (!id) return;
    var body = presenceBody("left");
    body.append("csrf", csrfToken());
    if (navigator.sendBeacon) navigator.sendBeacon("/chats/" + id + "/presence", body);
  }
  function watchPresence(force) {
    var id = openDialogId();
    if (id === presenceFor && !force) return;
    if (presenceFor && presenceFor !== id) leave(presenceFor);
    presenceFor = id;
    myState = "";
    clearTimeout(typingStop);
    if (id) tell("viewing");
  }
  function typed() {
    if (myState !== "typing") tell("typing");
    clearTimeout(typingStop);
    typingStop = setTimeout(function () { if (myState === "typing") tell("viewing"); }, 3000);
  }
  function stoppedTyping() {
    clearTimeout(typingStop);
    if (myState === "typing") tell("viewing");
  }
  function presencePushed(detail) {
    var id = String(detail.dialog_id);
    if (id !== openDialogId() || document.querySelector(".dialog.lost")) return;
    if (detail.gone) {  // another tab of ours left this chat (or we were silent too long)
      if (id === presenceFor) tell(myState || "viewing");
      return;
    }
    pushed += 1;
    showPresence(detail.others || []);
  }

  // --- Notifications, the title and the favicon ---------------------------------------------

  var audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.12, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.35);
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.35);
    } catch (_) { /* no sound here */ }
  }

  function notify(n) {
    if (document.body.dataset.notify !== "1") return;
    var list = document.getElementById("notices");
    if (list) {
      var item = document.createElement("a");
      item.className = "toast " + n.kind;
      item.href = "/chats/" + n.dialog_id;
      item.dataset.testid = "notification";
      var title = document.createElement("b");
      title.textContent = n.title;
      item.appendChild(title);
      if (n.body) { var body = document.createElement("span"); body.textContent = n.body; item.appendChild(body); }
      list.appendChild(item);
      while (list.children.length > 3) list.firstChild.remove();
      setTimeout(function () { item.remove(); }, 7000);
    }
    beep();
    if (window.Notification && Notification.permission === "granted" && (document.hidden || String(n.dialog_id) !== openDialogId())) {
      try {
        var shown = new Notification(n.title, { body: n.body || "", tag: "atendo-" + n.kind + "-" + n.dialog_id });
        shown.onclick = function () { window.focus(); window.location.href = "/chats/" + n.dialog_id; };
      } catch (_) { /* some browsers only notify from a service worker */ }
    }
  }

  var baseIcon = null;
  function setUnread(count) {
    document.title = (count > 0 ? "(" + count + ") " : "") + baseTitle;
    document.body.dataset.unread = String(count);
    try {
      var canvas = document.createElement("canvas");
      canvas.width = canvas.height = 32;
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#1f6feb"; ctx.fillRect(0, 0, 32, 32);
      ctx.fillStyle = "#fff"; ctx.font = "bold 20px sans-serif"; ctx.textAlign = "center"; ctx.fillText("A", 16, 23);
      if (count > 0) {
        ctx.fillStyle = "#d1242f"; ctx.beginPath(); ctx.arc(23, 9, 9, 0, 7); ctx.fill();
        ctx.fillStyle = "#fff"; ctx.font = "bold 12px sans-serif"; ctx.fillText(count > 9 ? "9+" : String(count), 23, 13);
      }
      var link = document.querySelector("link[rel=icon]");
      if (!link) { link = document.createElement("link"); link.rel = "icon"; document.head.appendChild(link); }
      baseIcon = baseIcon || link.href;
      link.href = canvas.toDataURL("image/png");
    } catch (_) { /* no canvas: the title says it */ }
  }

  function askPermission() {
    var show = !!(window.Notification && Notification.permission === "default" && document.body.dataset.notify === "1");
    document.querySelectorAll("[data-notify-ask]").forEach(function (ask) { ask.hidden = !show; });
  }

  // --- Status chooser and activity ----------------------------------------------------------

  function showStatus(status) {
    var select = document.querySelector("[data-testid=operator-status]");
    if (select) select.value = status;
    var dot = document.querySelector(".status-form .dot");
    if (dot) dot.className = "dot " + status;
  }

  var active = false;
  ["keydown", "mousedown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { active = true; }, { passive: true, capture: true });
  });
  function activityBeat() {
    if (!active || !document.body.dataset.live) return;
    active = false;
    fetch("/me/activity", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken() } });
  }

  // --- "@" mentions in an internal note --------------------------------------------------------

  function mentionPicker(area) {
    var menu = area.parentElement.querySelector(".tplmenu");
    var people = [];
    try { people = JSON.parse(area.dataset.mentions || "[]"); } catch (_) { people = []; }
    if (!menu || !people.length) return;
    function word() {
      var before = area.value.slice(0, area.selectionStart);
      var m = before.match(/(^|\s)@([\w.\-]*)$/);
      return m ? { query: m[2].toLowerCase(), start: before.length - m[2].length - 1 } : null;
    }
    area.addEventListener("input", function () {
      var w = word();
      if (!w) return;
      menu.innerHTML = "";
      people.filter(function (p) {
        return p.handle.toLowerCase().indexOf(w.query) === 0 || p.name.toLowerCase().indexOf(w.query) >= 0;
      }).slice(0, 8).forEach(function (p) {
        var li = document.createElement("li");
        var code = document.createElement("b");
        code.textContent = "@" + p.handle;
        li.appendChild(code);
        li.appendChild(document.createTextNode(" " + p.name));
        li.dataset.testid = "mention-option";
        li.addEventListener("mousedown", function (e) {
          e.preventDefault();
          area.value = area.value.slice(0, w.start) + "@" + p.handle + " " + area.value.slice(area.selectionStart);
          menu.hidden = true;
          area.focus();
        });
        menu.appendChild(li);
      });
      menu.hidden = !menu.children.length;
    });
  }

  // "… is typing" above the composer of the open dialog (a live chat's client), for a while.
  var typingTimer = 0;
  function showTyping(detail) {
    var composer = document.getElementById("composer");
    var pane = document.querySelector("[data-dialog-pane]");
    if (!composer || !pane || String(pane.dataset.dialogPane) !== String(detail.dialog_id)) return;
    var line = document.getElementById("dialog-typing");
    if (!line) {
      line = document.createElement("p");
      line.id = "dialog-typing";
      line.className = "typing muted small";
      line.dataset.testid = "dialog-typing";
      composer.parentElement.insertBefore(line, composer);
    }
    line.textContent = detail.label || "";
    line.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { line.hidden = true; }, 6000);
  }

  // The operator is typing: tell the dialog's transport, at most every 3 seconds.
  var lastTyping = 0;
  document.addEventListener("input", function (e) {
    var area = e.target;
    if (!area.matches || !area.matches("#composer textarea[name=text]")) return;
    var form = area.form, mode = form.querySelector("[name=mode]:checked");
    if (mode && mode.value === "comment") return;
    var now = Date.now();
    if (now - lastTyping < 3000) return;
    lastTyping = now;
    var url = (form.getAttribute("hx-post") || "").replace(/\/send$/, "/typing");
    var headers = {};
    try { headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}"); } catch (_) { headers = {}; }
    if (url) fetch(url, { method: "POST", headers: headers, credentials: "same-origin" });
  });

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-send-at]").forEach(function (el) {
      var left = Math.max(0, Math.round((Date.parse(el.dataset.sendAt) - now) / 1000));
      var label = el.querySelector(".countdown");
      if (label) label.textContent = label.textContent.replace(/\d+/, String(left));
    });
  }

  function scrollToEnd() {
    var box = document.getElementById("scroll");
    if (box) box.scrollTop = box.scrollHeight;
  }

  function fitFrame(frame) {
    try {
      var doc = frame.contentDocument;
      if (doc && doc.documentElement) frame.style.height = (doc.documentElement.scrollHeight + 4) + "px";
    } catch (_) { /* cross-origin: keep the default height */ }
  }

  // Template picker: a word starting with "/" in the composer lists matching templates.
  function templatePicker(area) {
    var menu = area.parentElement.querySelector(".tplmenu");
    var templates = [];
    try { templates = JSON.parse(area.dataset.templates || "[]"); } catch (_) { templates = []; }
    if (!menu || !templates.length) return;
    function word() {
      var before = area.value.slice(0, area.selectionStart);
      var m = before.match(/(^|\s)\/([\w-]*)$/);
      return m ? { query: m[2].toLowerCase(), start: before.length - m[2].length - 1 } : null;
    }
    function choose(t, w) {
      area.value = area.value.slice(0, w.start) + t.text + area.value.slice(area.selectionStart);
      menu.hidden = true;
      area.focus();
    }
    var shown = [];
    var current = 0;
    function highlight(i) {
      current = (i + shown.length) % shown.length;
      Array.prototype.forEach.call(menu.children, function (li, n) {
        li.classList.toggle("on", n === current);
        li.setAttribute("aria-selected", n === current ? "true" : "false");
      });
    }
    area.addEventListener("input", function () {
      var w = word();
      menu.innerHTML = "";
      shown = [];
      if (!w) { menu.hidden = true; return; }
      shown = templates.filter(function (t) {
        var q = fold(w.query);
        return fold(t.command || "").indexOf(q) === 0 || fold(t.name).indexOf(q) !== -1;
      }).slice(0, 8);
      shown.forEach(function (t) {
        var li = document.createElement("li");
        var code = document.createElement("b");
        code.textContent = "/" + (t.command || "");
        li.appendChild(code);
        li.appendChild(document.createTextNode(" " + t.name));
        li.dataset.testid = "template-option";
        li.setAttribute("role", "option");
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(t, word() || w); });
        menu.appendChild(li);
      });
      menu.hidden = !shown.length;
      if (shown.length) highlight(0);
    });
    area.addEventListener("keydown", function (e) {
      if (menu.hidden || !shown.length) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(current + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(current - 1); }
      else if ((e.key === "Enter" || e.key === "Tab") && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        var w = word();
        if (w) choose(shown[current], w);
      } else if (e.key === "Escape") { e.stopPropagation(); menu.hidden = true; }
    });
  }

  function fold(text) {
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  // --- the list: selection for bulk actions -------------------------------------------------
  var picked = new Set();
  var lastPick = null;

  function picks() { return Array.prototype.slice.call(document.querySelectorAll(".pick")); }

  function updateBulkBar() {
    var bar = document.getElementById("bulk");
    if (!bar) return;
    var all = bar.querySelector("[name=all_matching]").value === "1";
    var label = bar.querySelector(".picked");
    var summary = document.querySelector("[data-testid=list-total]");
    var total = summary ? summary.dataset.total : "";
    bar.hidden = !picked.size && !all;
    if (all) label.textContent = label.dataset.all.replace("{n}", total);
    else if (picked.size === 1) label.textContent = label.dataset.one;
    else label.textContent = label.dataset.many.replace("{n}", String(picked.size));
    var col = document.querySelector(".listcol");
    if (col) col.classList.toggle("picking", picked.size > 0 || all);
  }

  function restorePicks() {
    picks().forEach(function (box) { box.checked = picked.has(box.value); });
    updateBulkBar();
  }

  function clearPicks() {
    picked.clear();
    var bar = document.getElementById("bulk");
    if (bar) bar.querySelector("[name=all_matching]").value = "";
    restorePicks();
  }

  document.addEventListener("click", function (e) {
    var box = e.target.closest(".pick");
    if (!box) return;
    var boxes = picks();
    if (e.shiftKey && lastPick !== null) {
      var a = boxes.indexOf(lastPick);
      var b = boxes.indexOf(box);
      if (a !== -1 && b !== -1) {
        boxes.slice(Math.min(a, b), Math.max(a, b) + 1).forEach(function (other) {
          other.checked = box.checked;
        });
      }
    }
    lastPick = box;
    boxes.forEach(function (other) {
      if (other.checked) picked.add(other.value); else picked.delete(other.value);
    });
    var bar = document.getElementById("bulk");
    if (bar && !box.checked) bar.querySelector("[name=all_matching]").value = "";
    updateBulkBar();
  });

  // --- keyboard -----------------------------------------------------------------------------
  function items() { return Array.prototype.slice.call(document.querySelectorAll("[data-testid=dialog-item]")); }

  function focusItem(el, open) {
    if (!el) return;
    items().forEach(function (other) { other.tabIndex = -1; });
    el.tabIndex = 0;
    el.focus();
    if (open) el.click();
  }

  function step(delta, open) {
    var list = items();
    if (!list.length) return;
    var at = list.indexOf(document.activeElement);
    if (at === -1) at = list.indexOf(document.querySelector("[data-testid=dialog-item].active"));
    if (at === -1 && openDialogId()) {  // the list was refreshed under us: the open chat
      at = list.indexOf(document.querySelector("[data-testid=dialog-item][data-dialog-id='" + openDialogId() + "']"));
    }
    var next = at === -1 ? 0 : Math.max(0, Math.min(list.length - 1, at + delta));
    focusItem(list[next], open);
  }

  function closeDrawers() {
    var closed = false;
    var help = document.getElementById("kbd-help");
    if (help && !help.hidden) { help.hidden = true; closed = true; }
    document.querySelectorAll(".drawer").forEach(function (d) {
      if (d.children.length) { d.replaceChildren(); closed = true; }
    });
    return closed;
  }

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  document.addEventListener("keydown", function (e) {
    var mod = e.ctrlKey || e.metaKey;
    if (mod && e.key === "Enter") {
      var form = e.target.closest && e.target.closest("form");
      if (form && e.target.tagName === "TEXTAREA") {
        e.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      }
      return;
    }
    if (mod && (e.key === "k" || e.key === "K")) {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
      return;
    }
    if (e.key === "Escape") {
      if (closeDrawers()) { e.preventDefault(); return; }
      if (typing(e.target)) e.target.blur();
      return;
    }
    if (typing(e.target) || mod || e.altKey) return;
    if (e.key === "/") {
      var search = document.getElementById("q");
      if (search) { e.preventDefault(); search.focus(); search.select(); }
    } else if (e.key === "j") { e.preventDefault(); step(1, true); }
    else if (e.key === "k") { e.preventDefault(); step(-1, true); }
    else if (e.key === "ArrowDown" && e.target.matches("[data-testid=dialog-item]")) { e.preventDefault(); step(1, false); }
    else if (e.key === "ArrowUp" && e.target.matches("[data-testid=dialog-item]")) { e.preventDefault(); step(-1, false); }
    else if (e.key === "x" && e.target.matches("[data-testid=dialog-item]")) {
      var row = e.target.closest(".itemrow");
      var box = row && row.querySelector(".pick");
      if (box) { e.preventDefault(); box.click(); }
    } else if (e.key === "?") {
      var help = document.getElementById("kbd-help");
      if (help) { e.preventDefault(); help.hidden = !help.hidden; if (!help.hidden) help.querySelector("button").focus(); }
    }
  });

  // E-mail address chips (To / Cc / Bcc): the hidden input holds the addresses the server
  // validates again; typing a comma, ";", Enter or leaving the field makes a chip.
  function chipsSync(box) {
    var hidden = box.querySelector("input[type=hidden]");
    var list = Array.prototype.map.call(box.querySelectorAll(".chip.addr"), function (c) { return c.dataset.address; });
    hidden.value = list.join(", ");
    var form = box.closest("form");
    if (form) form.dispatchEvent(new Event("chips", { bubbles: true }));
  }

  function chipAdd(box, text) {
    var input = box.querySelector(".chipin");
    text.split(/[,;\s]+/).forEach(function (a) {
      a = a.trim().replace(/^<|>$/g, "");
      if (!a) return;
      var known = Array.prototype.some.call(box.querySelectorAll(".chip.addr"), function (c) { return c.dataset.address.toLowerCase() === a.toLowerCase(); });
      if (known) return;
      var chip = document.createElement("span");
      chip.className = "chip addr";
      chip.dataset.address = a;
      chip.textContent = a;
      var x = document.createElement("button");
      x.type = "button"; x.className = "x"; x.textContent = "×";
      x.setAttribute("aria-label", (box.querySelector(".chip.addr .x") || x).getAttribute("aria-label") || "×");
      chip.appendChild(x);
      box.insertBefore(chip, input);
    });
    input.value = "";
    chipsSync(box);
  }

  // After a send: the composer empties (the draft was dropped on the server).
  function composerSent(form) {
    var area = form.querySelector("[name=text]");
    if (area) area.defaultValue = "";
    form.reset();
    var note = document.getElementById("composer-note");
    if (note) note.textContent = "";
    var files = document.getElementById("draft-files");
    if (files) files.innerHTML = "";
    var state = form.querySelector("[data-testid=draft-state]");
    if (state) state.textContent = "";
  }

  function draftSaved() {
    var f = document.querySelector("#composer input[type=file]");
    if (f) f.value = "";
    var s = document.querySelector("#composer [data-testid=draft-state]");
    if (s) s.textContent = s.dataset.saved || "";
  }

  document.addEventListener("keydown", function (e) {
    var input = e.target.closest && e.target.closest(".chipin");
    if (!input) return;
    var box = input.closest("[data-chips]");
    if ((e.key === "Enter" || e.key === "," || e.key === ";") && input.value.trim()) {
      e.preventDefault();
      chipAdd(box, input.value);
    } else if (e.key === "Enter") {
      e.preventDefault();
    } else if (e.key === "Backspace" && !input.value) {
      var chips = box.querySelectorAll(".chip.addr");
      if (chips.length) { chips[chips.length - 1].remove(); chipsSync(box); }
    }
  });
  document.addEventListener("focusout", function (e) {
    var input = e.target.closest && e.target.closest(".chipin");
    if (input && input.value.trim()) chipAdd(input.closest("[data-chips]"), input.value);
  });

  function init(root) {
    root.querySelectorAll("textarea[data-templates]").forEach(function (area) {
      if (!area.dataset.pickerReady) { area.dataset.pickerReady = "1"; templatePicker(area); mentionPicker(area); }
    });
  }

  document.addEventListener("click", function (e) {
    var x = e.target.closest(".chip.addr .x");
    if (x) {
      var box = x.closest("[data-chips]");
      x.closest(".chip").remove();
      chipsSync(box);
      return;
    }
    var bcc = e.target.closest("[data-show-bcc]");
    if (bcc) {
      var row = document.querySelector("[data-addr-row=bcc]");
      if (row) { row.classList.remove("collapsed"); row.querySelector(".chipin").focus(); }
      bcc.hidden = true;
      return;
    }
    var chipsBox = e.target.closest("[data-chips]");
    if (chipsBox && !e.target.closest(".chip")) chipsBox.querySelector(".chipin").focus();
    var add = e.target.closest("[data-add-email]");
    if (add) {
      var list = document.getElementById("emails");
      var first = list.querySelector("input");
      var input = first.cloneNode();
      input.value = "";
      input.required = false;
      list.appendChild(input);
      input.focus();
      return;
    }
    var back = e.target.closest("[data-put-back]");
    if (back) {
      var composer = document.getElementById("composer");
      if (composer) {
        composer.querySelector("[name=text]").value = back.dataset.putBack;
        if (back.dataset.putBackSubject) composer.querySelector("[name=subject]").value = back.dataset.putBackSubject;
        composer.querySelector("[name=text]").focus();
      }
      back.remove();  // once back in the composer, it is the composer's text
      return;
    }
    var pill = e.target.closest("#new-pill");
    if (pill) { scrollToEnd(); pill.hidden = true; return; }
    var ask = e.target.closest("[data-notify-ask]");
    if (ask && window.Notification) {
      Notification.requestPermission().then(function () { askPermission(); });
      return;
    }
    if (e.target.closest("[data-select-all]")) {
      var bulk = document.getElementById("bulk");
      bulk.querySelector("[name=all_matching]").value = "1";
      picks().forEach(function (b) { b.checked = true; picked.add(b.value); });
      updateBulkBar();
      return;
    }
    if (e.target.closest("[data-select-none]")) { clearPicks(); return; }
    if (e.target.closest("[data-close-help]")) { document.getElementById("kbd-help").hidden = true; return; }
    if (e.target.closest("[data-close-drawer]")) {
      var drawer0 = e.target.closest(".drawer");
      if (drawer0) drawer0.replaceChildren();
      return;
    }
    var tplButton = e.target.closest("[data-template-button]");
    if (tplButton) {
      var area = tplButton.closest("form").querySelector("textarea[data-templates]");
      if (area) {
        var at = area.selectionStart || area.value.length;
        var before = area.value.slice(0, at);
        var gap = before && !/\s$/.test(before) ? " " : "";
        area.value = before + gap + "/" + area.value.slice(at);
        area.focus();
        area.selectionStart = area.selectionEnd = at + gap.length + 1;
        area.dispatchEvent(new Event("input"));
      }
      return;
    }
    var backLink = e.target.closest("[data-back]");
    var pane = document.getElementById("pane");
    if (backLink && pane) {
      e.preventDefault();
      var empty = document.createElement("div");
      empty.className = "empty";
      pane.replaceChildren(empty);
      var drawer = document.getElementById("details-drawer");
      if (drawer) drawer.replaceChildren();
      history.pushState(null, "", "/chats");
      var active = document.querySelector("[data-testid=dialog-item].active");
      if (active) active.focus();
      return;
    }
    var seg = e.target.closest(".seg label");
    if (seg) {
      seg.parentElement.querySelectorAll("label").forEach(function (l) { l.classList.remove("on"); });
      seg.classList.add("on");
    }
    var item = e.target.closest("[data-testid=dialog-item]");
    if (item) {
      document.querySelectorAll("[data-testid=dialog-item].active").forEach(function (el) { el.classList.remove("active"); });
      item.classList.add("active");
      item.classList.remove("unread");
      var badge = item.querySelector(".badge");
      if (badge) badge.remove();
    }
  });

  document.addEventListener("submit", function (e) {
    if (e.target.id === "filters") e.preventDefault();
    var form = e.target;
    if (form.hasAttribute("data-no-submit")) { e.preventDefault(); return; }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
      e.stopImmediatePropagation();
      return;
    }
    var ok = e.target.querySelector("[data-busy]");
    if (ok && !e.target.hasAttribute("hx-post")) { ok.textContent = ok.dataset.busy; ok.classList.add("busy"); }
  });

  document.addEventListener("change", function (e) {
    var status = e.target.closest("[data-testid=operator-status]");
    if (status) {
      var data = new FormData(status.form);
      fetch(status.form.action, { method: "POST", body: data, credentials: "same-origin", headers: { "HX-Request": "true", "X-CSRF-Token": csrfToken() } })
        .then(function (r) { if (r.ok) showStatus(status.value); });
      return;
    }
    if (e.target.hasAttribute("data-autosubmit") && e.target.form) { e.target.form.submit(); return; }
    if (e.target.hasAttribute("data-navigate-param")) {
      var warn = e.target.dataset.discardWarning;
      if (warn && e.target.form && e.target.form.dataset.dirty === "1" && !window.confirm(warn)) {
        e.target.value = e.target.dataset.previous || e.target.value;
        return;
      }
      location.href = "?" + encodeURIComponent(e.target.name) + "=" + encodeURIComponent(e.target.value);
      return;
    }
    if (e.target.matches && e.target.matches("input[type=file][name=files]")) {
      var chosen = e.target.closest("label").querySelector(".files-chosen");
      if (chosen) {
        var names = Array.prototype.map.call(e.target.files, function (f) { return f.name; });
        chosen.textContent = names.length ? names.join(", ") : chosen.dataset.none;
      }
      return;
    }
    var segment = e.target.closest(".seg");
    if (segment && e.target.checked) {
      segment.querySelectorAll("label").forEach(function (l) { l.classList.toggle("on", l.contains(e.target)); });
    }
    var mode = e.target.closest("[name=mode]");
    if (mode) document.getElementById("composer").classList.toggle("comment", mode.value === "comment");
    var drop = e.target.closest("[name=drop_file]");
    if (drop) drop.closest("li").hidden = true;
  });

  // Forms remember that something was typed (the signatures form warns before discarding it).
  document.addEventListener("input", function (e) {
    var form = e.target.form;
    if (form && e.target.tagName === "TEXTAREA") form.dataset.dirty = "1";
  });
  document.addEventListener("focusin", function (e) {
    if (e.target.hasAttribute && e.target.hasAttribute("data-discard-warning")) e.target.dataset.previous = e.target.value;
  });

  document.addEventListener("load", function (e) {
    if (e.target.classList && e.target.classList.contains("mail-frame")) fitFrame(e.target);
  }, true);

  document.addEventListener("input", function (e) {
    if (e.target.closest("#composer [name=text]")) typed();
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.detail.elt;
    if (!form || form.id !== "composer") return;
    var xhr = e.detail.xhr;
    if (e.detail.successful) {
      mergeMessages(xhr.responseText, true);  // composerSent (data-reset-after-send) clears it
      form.querySelector("[name=anyway]").value = "";
      document.querySelectorAll("[data-put-back]").forEach(function (b) { b.remove(); });
      stoppedTyping();
    } else if (xhr && xhr.status === 409) {
      form.querySelector("[name=anyway]").value = "1";
      refreshMessages();
    }
  });

  document.addEventListener("refresh-messages", refreshMessages);

  document.addEventListener("scroll", function (e) {
    if (e.target && e.target.id === "scroll" && atBottom(e.target)) {
      var pill = document.getElementById("new-pill");
      if (pill) pill.hidden = true;
    }
  }, true);

  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.elt && e.detail.elt.id === "bulk" && e.detail.successful) {
      clearPicks();
      e.detail.elt.querySelector("[name=action]").value = "";
    }
    if (e.detail.elt && e.detail.elt.id === "composer" && e.detail.successful) {
      e.detail.elt.classList.remove("comment");
      var chosen = e.detail.elt.querySelector(".files-chosen");
      if (chosen) chosen.textContent = chosen.dataset.none;
    }
  });

  document.addEventListener("htmx:afterSwap", function (e) {
    init(document);
    if (e.detail.target && e.detail.target.id === "dialog-list") restorePicks();
    if (e.detail.target && e.detail.target.id === "pane") { scrollToEnd(); watchPresence(true); }
  });
  // Extra parameters of the live refreshes (computed here: no hx-vals "js:" under the CSP).
  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt, params = e.detail.parameters;
    if (elt.hasAttribute("data-list-refresh")) {
      var shown = document.querySelectorAll("[data-testid=dialog-item]").length;
      var pane = document.querySelector("[data-dialog-pane]");
      params.limit = String(Math.max(25, shown));
      params.active = pane ? (pane.dataset.dialogPane || "") : "";
    }
    if (elt.hasAttribute("data-images-refresh")) {
      var ids = Array.prototype.map.call(document.querySelectorAll("[data-images-shown]"), function (el) {
        return el.dataset.imagesShown;
      });
      if (ids.length) params.images = ids;
    }
  });

  // A draft save still waiting (typing delay) must not bring back a message just sent.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    if (!elt || !elt.hasAttribute) return;
    if (elt.hasAttribute("data-reset-after-send")) elt.dataset.sending = "1";
    if (elt.hasAttribute("data-draft-saver")) {
      var form = elt.closest("form");
      if (form && form.dataset.sending === "1") e.preventDefault();
    }
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.hasAttribute && elt.hasAttribute("data-reset-after-send")) {
      setTimeout(function () { delete elt.dataset.sending; }, 1500);
    }
    if (e.detail.successful && elt && elt.hasAttribute && elt.hasAttribute("data-reset-after-send")) {
      composerSent(elt);
    }
    if (e.detail.successful && elt && elt.hasAttribute && elt.hasAttribute("data-draft-saver")) {
      draftSaved();
    }
  });

  // The new-mailbox form: typing the address fills the servers (GET data-discover), except
  // fields the admin already changed by hand.
  document.addEventListener("input", function (e) {
    var form = e.target.form;
    if (form && form.hasAttribute("data-discover") && e.target.name !== "email") {
      e.target.dataset.touched = "1";
    }
  });
  document.addEventListener("change", function (e) {
    var input = e.target;
    var form = input.form;
    if (!form || !form.hasAttribute("data-discover") || input.name !== "email") return;
    var address = input.value.trim();
    if (address.indexOf("@") < 1) return;
    var status = form.querySelector("[data-discover-status]");
    fetch(form.getAttribute("data-discover") + "?email=" + encodeURIComponent(address), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (r) {
      if (r.status !== 200) return null;
      return r.json();
    }).then(function (found) {
      if (input.value.trim() !== address) return;  // the admin typed on meanwhile
      var words = [];
      if (found) {
        ["imap_host", "imap_port", "imap_security", "smtp_host", "smtp_port", "smtp_security"].forEach(function (name) {
          var field = form.querySelector("[name=" + name + "]");
          if (field && !field.dataset.touched) field.value = String(found[name]);
        });
        words.push(form.getAttribute("data-msg-found"));
        if (found.oauth) words.push(form.getAttribute("data-msg-app-password"));
      } else {
        words.push(form.getAttribute("data-msg-none"));
      }
      if (status) { status.textContent = words.join(" "); status.hidden = false; }
    }).catch(function () {});
  });

  // "Connect with Google / Microsoft": the link carries what the form holds (address, name,
  // servers), so the channel the provider's sign-in connects uses them.
  document.addEventListener("click", function (e) {
    var link = e.target.closest && e.target.closest("a[data-oauth-start]");
    if (!link || !link.closest("form")) return;
    var form = link.closest("form");
    var params = new URLSearchParams();
    ["email", "name", "sender_name", "imap_host", "imap_port", "imap_security", "smtp_host",
     "smtp_port", "smtp_security", "send_delay", "import_days"].forEach(function (name) {
      var field = form.querySelector("[name=" + name + "]");
      if (field && field.value.trim()) params.set(name, field.value.trim());
    });
    e.preventDefault();
    window.location.href = link.getAttribute("href") + "?" + params.toString();
  });

  document.addEventListener("htmx:oobAfterSwap", function () { init(document); });

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // Show the server's explanation (422 and friends) instead of ignoring it.
      htmx.config.responseHandling = [
        { code: "204", swap: false },
        { code: "[23]..", swap: true },
        { code: "[45]..", swap: true, error: true }
      ];
    }
    init(document);
    scrollToEnd();
    startLive();
    setInterval(tickCountdowns, 1000);
    setInterval(function () { if (document.querySelector("#messages[data-pending]")) refreshMessages(); }, 2000);
    setInterval(function () { watchPresence(false); }, 1000);  // asks nothing unless the chat changed
    var keep = parseFloat(document.body.dataset.presenceKeepalive || "10") || 10;
    setInterval(keepAlive, Math.min(keep * 1000, 2147483000));
    setInterval(activityBeat, 60000);
    watchPresence(false);
    askPermission();
    var unread = document.body.dataset.unread;
    if (unread) setUnread(parseInt(unread, 10) || 0);
  });
  window.addEventListener("pagehide", function () { leave(presenceFor); presenceFor = ""; });
  window.addEventListener("pageshow", function (e) { if (e.persisted) watchPresence(true); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") keepAlive();  // back from a sleep: still here
  });
})();
