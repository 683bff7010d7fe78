// SP4ALL agent console: live refresh over server-sent events, canned replies, confirmations.
// No framework, no inline code (the Content-Security-Policy allows this file only).
(function () {
  "use strict";
  var body = document.body;
  var page = body.getAttribute("data-page");
  var handoff = parseInt(body.getAttribute("data-handoff") || "0", 10);
  var live = document.getElementById("live");

  function refresh() {
    if (!live) { return; }
    fetch(live.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        // the server escaped every citizen's word; scripts never run from here (CSP)
        live.innerHTML = html;
        if (page === "conversation") { window.scrollTo(0, document.body.scrollHeight); }
      })
      .catch(function () { /* the next event retries */ });
  }

  function banner() {
    if (document.getElementById("changed")) { return; }
    var div = document.createElement("div");
    div.id = "changed";
    div.className = "banner";
    div.setAttribute("role", "status");
    var link = document.createElement("a");
    link.href = window.location.pathname;
    link.textContent = body.getAttribute("data-updated");
    div.appendChild(link);
    document.querySelector("main").prepend(div);
  }

  if ((page === "queue" || page === "conversation") && window.EventSource) {
    var source = new EventSource("/console/events");
    var pending = null;
    source.addEventListener("queue", function (e) {
      var data = JSON.parse(e.data);
      if (page === "queue") { schedule(); }
      else if (data.handoff_id === handoff) { banner(); schedule(); }
    });
    source.addEventListener("message", function (e) {
      var data = JSON.parse(e.data);
      if (page === "queue" || data.handoff_id === handoff) { schedule(); }
    });
    source.addEventListener("handoff", function (e) {
      if (JSON.parse(e.data).handoff_id === handoff) { schedule(); }
    });
    // bursts of events cost one fetch (slow connections)
    var schedule = function () {
      if (pending) { return; }
      pending = window.setTimeout(function () { pending = null; refresh(); }, 300);
    };
  }

  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button.canned") : null;
    if (!button) { return; }
    var box = document.getElementById("reply");
    box.value = button.getAttribute("data-text");
    box.setAttribute("lang", button.getAttribute("lang"));
    box.focus();
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.classList.contains("confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
      e.preventDefault();
    }
  });

  if (page === "conversation") { window.scrollTo(0, document.body.scrollHeight); }
})();
