/* Atendo site widget loader: a launcher button and the chat in an iframe served by Atendo.
   Embed: <script src="https://<atendo>/widget/loader.js" data-channel="<public id>" async></script>
   API: window.Atendo.open(), .close(), .identify({id, name, email, hash}), .onMessage = fn */
(function () {
  "use strict";
  var me = document.currentScript || document.querySelector('script[data-channel][src*="/widget/loader.js"]');
  var api = (window.Atendo = window.Atendo || {});
  if (!me || api._ready) return;
  api._ready = true;
  var base = new URL(me.src, location.href).origin;
  var channel = me.getAttribute("data-channel") || "";
  var lang = document.documentElement.lang || navigator.language || "";
  var key = "atendo-open:" + channel;
  var cfg = null, button = null, box = null, frame = null, shown = false, pending = [];
  var wantOpen = false;

  function send(msg) {
    if (frame && frame.contentWindow && frame._loaded) frame.contentWindow.postMessage(msg, base);
    else pending.push(msg);
  }
  function narrow() { return window.innerWidth < 520; }
  function place() {
    if (!box) return;
    var side = cfg.position === "left" ? "left" : "right";
    box.style.cssText = narrow()
      ? "position:fixed;inset:0;width:100%;height:100%;z-index:2147483647;border:0;"
      : "position:fixed;bottom:88px;" + side + ":20px;width:370px;height:min(600px,calc(100vh - 108px));" +
        "z-index:2147483647;border-radius:14px;overflow:hidden;box-shadow:0 12px 40px rgba(0,0,0,.22);";
    box.style.display = shown ? "block" : "none";
    button.style.display = shown && narrow() ? "none" : "flex";
  }
  function build() {
    var side = cfg.position === "left" ? "left" : "right";
    button = document.createElement("button");
    button.type = "button";
    button.setAttribute("data-testid", "widget-launcher");
    button.setAttribute("aria-label", cfg.launcher);
    button.title = cfg.launcher;
    button.style.cssText = "position:fixed;bottom:20px;" + side + ":20px;width:56px;height:56px;" +
      "border-radius:50%;border:0;cursor:pointer;z-index:2147483646;display:flex;align-items:center;" +
      "justify-content:center;box-shadow:0 4px 16px rgba(0,0,0,.25);background:" + cfg.color + ";";
    button.innerHTML = '<svg width="28" height="28" viewBox="0 0 24 24" fill="none" stroke="#fff" ' +
      'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">' +
      '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/></svg>';
    button.addEventListener("click", function () { shown ? api.close() : api.open(); });
    document.body.appendChild(button);
    if (wantOpen || sessionStorage.getItem(key) === "1") api.open();
  }
  function ensureFrame() {
    if (box) return;
    box = document.createElement("div");
    frame = document.createElement("iframe");
    frame.title = cfg.title;
    frame.setAttribute("data-testid", "widget-frame");
    frame.allow = "clipboard-write";
    frame.style.cssText = "width:100%;height:100%;border:0;background:#fff;";
    frame.src = base + "/widget/" + encodeURIComponent(channel) + "/frame?lang=" +
      encodeURIComponent(cfg.lang) + "&site=" + encodeURIComponent(location.origin);
    frame.addEventListener("load", function () {
      frame._loaded = true;
      send({ atendo: "page", url: location.href, title: document.title, referrer: document.referrer });
      while (pending.length) send(pending.shift());
    });
    box.appendChild(frame);
    document.body.appendChild(box);
    window.addEventListener("resize", place);
  }
  window.addEventListener("message", function (e) {
    if (e.origin !== base || !frame || e.source !== frame.contentWindow) return;
    var d = e.data || {};
    if (d.atendo === "close") api.close();
    if (d.atendo === "message" && typeof api.onMessage === "function") {
      try { api.onMessage(d.message); } catch (err) { setTimeout(function () { throw err; }); }
    }
  });
  api.open = function () {
    if (!button) { wantOpen = true; return; }  // opened as soon as the launcher is there
    ensureFrame(); shown = true; sessionStorage.setItem(key, "1"); place();
    send({ atendo: "opened" });
  };
  api.close = function () {
    wantOpen = false;
    if (!button) return;
    shown = false; sessionStorage.removeItem(key); place();
    if (button) button.focus();
  };
  api.identify = function (who) { send({ atendo: "identify", identify: who || {} }); };
  fetch(base + "/widget/" + encodeURIComponent(channel) + "/config?lang=" + encodeURIComponent(lang), {
    credentials: "omit",
  })
    .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
    .then(function (c) {
      cfg = c;
      if (document.body) build();
      else document.addEventListener("DOMContentLoaded", build);
    })
    .catch(function () { console.warn("Atendo: this site may not embed widget " + channel); });
})();
