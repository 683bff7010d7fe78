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
    // another gateway process's events may have been missed: re-read what is shown
    source.addEventListener("resync", function () { schedule(); });
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

  // ----- retraining (admins): review-queue shortcuts and live job progress -----
  // The queue is a plain form without this: the keys only tick boxes and press its buttons.
  function reviewShortcuts() {
    var form = document.getElementById("review-form");
    var filter = document.getElementById("filter");
    var current = null;
    if (!form) { return; }

    function rows() {
      return Array.prototype.filter.call(
        document.querySelectorAll("#review > li"), function (li) { return !li.hidden; });
    }
    function box(row) { return row.querySelector("input[type=checkbox]"); }
    function mark(row) { row.classList.toggle("selected", box(row).checked); }
    function checked() { return form.querySelectorAll("#review input[type=checkbox]:checked"); }

    function move(step) {
      var list = rows();
      if (!list.length) { return; }
      var at = list.indexOf(current);
      var next = at < 0 ? (step > 0 ? 0 : list.length - 1)
        : Math.max(0, Math.min(list.length - 1, at + step));
      if (current) { current.classList.remove("current"); current.removeAttribute("aria-current"); }
      current = list[next];
      current.classList.add("current");
      current.setAttribute("aria-current", "true");
      box(current).focus({ preventScroll: true });
      current.scrollIntoView({ block: "nearest" });
    }
    function press(id) {
      if (!checked().length && current) { box(current).checked = true; mark(current); }
      if (checked().length) { document.getElementById(id).click(); }
    }
    function normalise(text) {
      return text.replace(/[\u200b-\u200d\u2060\ufeff]/g, "").toLowerCase().trim();
    }

    form.addEventListener("change", function (e) {
      var row = e.target.closest ? e.target.closest("#review > li") : null;
      if (row) { mark(row); }
    });
    if (filter) {
      filter.addEventListener("input", function () {
        var wanted = normalise(filter.value);
        Array.prototype.forEach.call(document.querySelectorAll("#review > li"), function (li) {
          li.hidden = wanted !== "" && normalise(li.getAttribute("data-key") + " " +
            li.textContent).indexOf(wanted) < 0;
        });
      });
    }
    document.addEventListener("keydown", function (e) {
      var target = e.target;
      var typing = target.isContentEditable || target.tagName === "TEXTAREA" ||
        target.tagName === "SELECT" || (target.tagName === "INPUT" && target.type !== "checkbox");
      if (e.key === "Escape" && typing) { target.blur(); return; }
      if (typing || e.ctrlKey || e.metaKey || e.altKey) { return; }
      var actions = {
        j: function () { move(1); },
        k: function () { move(-1); },
        x: function () {
          if (!current) { move(1); }
          if (current) { box(current).checked = !box(current).checked; mark(current); }
        },
        a: function () { document.getElementById("intent").focus(); },
        o: function () { press("out-of-scope"); },
        s: function () { press("spam"); },
        "/": function () { if (filter) { filter.focus(); filter.select(); } }
      };
      var action = actions[e.key];
      if (action) { e.preventDefault(); action(); }
    });
  }

  var JOB_POLL_MS = 2000;
  function followJob() {
    var live = document.getElementById("job-live");
    if (!live || live.getAttribute("data-active") !== "1") { return; }
    var progress = document.getElementById("progress");
    function show(id, text) { document.getElementById(id).textContent = text; }
    function tick() {
      fetch(live.getAttribute("data-src"), {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" }
      })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (job) {
          progress.value = job.progress;
          show("percent", job.progress + "%");
          var words = job.words || {};  // in the console's language, never internal names
          show("stage", words.stage || job.stage);
          show("status", words.status || job.status);
          // finished: the server renders the report and the Activate button
          if (job.active) { window.setTimeout(tick, JOB_POLL_MS); } else { window.location.reload(); }
        })
        .catch(function () { window.setTimeout(tick, JOB_POLL_MS * 3); });
    }
    window.setTimeout(tick, JOB_POLL_MS);
  }

  if (page === "training-review") { reviewShortcuts(); }
  if (page === "training-job") { followJob(); }

  // ----- broadcasts: the report's numbers from its JSON while it is planned and sent -----
  function followBroadcast() {
    var live = document.getElementById("report-live");
    if (!live || live.getAttribute("data-active") !== "1") { return; }
    var every = parseInt(live.getAttribute("data-poll") || "3000", 10);
    function at(data, path) {
      return path.split(".").reduce(function (o, k) {
        return o !== null && typeof o === "object" &&
          Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
      }, data);
    }
    function tick() {
      var started = Date.now();
      fetch(live.getAttribute("data-src"), {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" }
      })
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (report) {
          // finished, another status, or a new channel, province or reason: the server
          // renders the page again (names in the console's language)
          if (!report.live || report.shape !== live.getAttribute("data-shape")) {
            window.location.reload();
            return;
          }
          Array.prototype.forEach.call(live.querySelectorAll("[data-field]"), function (el) {
            var value = at(report, el.getAttribute("data-field"));
            el.textContent = typeof value === "number" ? String(value)
              : (el.getAttribute("data-none") || "0");
          });
          document.getElementById("report-progress").value = report.done_share;
          document.getElementById("report-percent").textContent =
            Math.round(report.done_share * 100) + "%";
          // a report of a million messages takes seconds: the database rests as long
          window.setTimeout(tick, Math.max(every, 2 * (Date.now() - started)));
        })
        .catch(function () { window.setTimeout(tick, every * 3); });
    }
    window.setTimeout(tick, every);
  }

  if (page === "broadcast") { followBroadcast(); }
})();
