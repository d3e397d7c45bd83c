// The wallboard's live part: the server pushes the board as HTML (Server-Sent Events) and this
// swaps it in; the action forms are sent with fetch and their answer shown. No framework.
"use strict";
(function () {
  const board = document.getElementById("board");
  const lost = document.getElementById("link-status");
  const updated = document.getElementById("updated");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  let heard = Date.now();

  function stamp() {
    heard = Date.now();
    lost.hidden = true;
  }

  function connect() {
    const events = new EventSource("/ui/events");
    events.addEventListener("board", function (e) {
      board.innerHTML = e.data;
      updated.textContent = new Date().toLocaleTimeString("ru-RU");
      stamp();
    });
    events.addEventListener("ping", stamp);
    events.addEventListener("expired", function () {
      events.close();
      window.location.assign("/ui/login");
    });
    events.onerror = function () {
      // A network error is retried by the browser; a refusal (session over) closes the stream:
      // reloading the page then leads to the login if the session is gone.
      if (events.readyState === EventSource.CLOSED) {
        window.setTimeout(function () { window.location.reload(); }, 3000);
      }
    };
  }

  // Nothing heard for 12 s (a push or the 5 s ping): say so, the figures may be stale.
  window.setInterval(function () { lost.hidden = Date.now() - heard < 12000; }, 1000);

  const result = document.getElementById("action-result");
  const message = document.getElementById("action-message");
  const errors = document.getElementById("action-errors");

  function show(ok, text, lines) {
    result.hidden = false;
    result.classList.toggle("failed", !ok);
    message.textContent = text;
    errors.replaceChildren();
    (lines || []).forEach(function (line) {
      const li = document.createElement("li");
      li.textContent = line;
      errors.appendChild(li);
    });
  }

  document.querySelectorAll("form[data-action]").forEach(function (form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const body = new URLSearchParams(new FormData(form, ev.submitter));
      const buttons = form.querySelectorAll("button");
      buttons.forEach(function (b) { b.disabled = true; });
      try {
        // getAttribute: form.action is shadowed by the buttons named "action".
        const r = await fetch(form.getAttribute("action"), {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
        });
        let answer = {};
        try { answer = await r.json(); } catch (_) { answer = {}; }
        const details = answer.details || {};
        show(r.ok, answer.message || ("Ошибка " + r.status), details.errors);
        if (r.status === 401) { window.location.assign("/ui/login"); }
      } catch (_) {
        show(false, "Нет связи с сервером: действие не выполнено");
      } finally {
        buttons.forEach(function (b) { b.disabled = false; });
      }
    });
  });

  connect();
})();
