// The operator's workplace: the server pushes his card as HTML (Server-Sent Events) and this
// swaps it in, then shows the forms that fit the call's phase. The forms are sent with fetch.
"use strict";
(function () {
  const card = document.getElementById("card");
  const lost = document.getElementById("link-status");
  const updated = document.getElementById("updated");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const appeal = document.getElementById("appeal-form");
  const appealCall = document.getElementById("appeal-call");
  const appealTopic = document.getElementById("appeal-topic");
  const appealSub = document.getElementById("appeal-subtopic");
  let heard = Date.now();

  function stamp() {
    heard = Date.now();
    lost.hidden = true;
  }

  // Only the chosen topic's sub-topics can be picked.
  function filterSubtopics() {
    let first = null;
    appealSub.querySelectorAll("optgroup").forEach(function (g) {
      const on = g.dataset.topic === appealTopic.value;
      g.hidden = !on;
      g.disabled = !on;
      if (on && !first) { first = g.querySelector("option"); }
    });
    const chosen = appealSub.selectedOptions[0];
    if ((!chosen || chosen.dataset.topic !== appealTopic.value) && first) { appealSub.value = first.value; }
  }

  // The forms that fit the phase; a new call starts a blank appeal on its topic.
  function sync() {
    const desk = document.getElementById("desk");
    const phase = desk ? desk.dataset.phase : "";
    const callId = desk ? desk.dataset.callId : "";
    document.getElementById("transfer-section").hidden = phase !== "talking";
    document.getElementById("wrap-section").hidden = phase !== "wrap_up";
    if (callId && callId !== appealCall.value) {
      appeal.reset();
      appealCall.value = callId;
      const topic = desk.dataset.topic;
      if (topic && appealTopic.querySelector('option[value="' + topic + '"]')) { appealTopic.value = topic; }
      filterSubtopics();
    }
    // Kept open after the call (the appeal may be finished then) until it is saved.
    document.getElementById("appeal-section").hidden = !appealCall.value;
  }

  function connect() {
    const events = new EventSource("/ui/workplace/events");
    events.addEventListener("board", function (e) {
      card.innerHTML = e.data;
      updated.textContent = new Date().toLocaleTimeString("ru-RU");
      stamp();
      sync();
    });
    events.addEventListener("ping", stamp);
    events.addEventListener("expired", function () {
      events.close();
      window.location.assign("/ui/login");
    });
    events.onerror = function () {
      if (events.readyState === EventSource.CLOSED) {
        window.setTimeout(function () { window.location.reload(); }, 3000);
      }
    };
  }

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
        const r = await fetch(form.getAttribute("action"), {
          method: "POST",
          body: body,
          credentials: "same-origin",
          headers: { "X-CSRF-Token": csrf, "Accept": "application/json" },
        });
        let answer = {};
        try { answer = await r.json(); } catch (_) { answer = {}; }
        show(r.ok, answer.message || ("Ошибка " + r.status), (answer.details || {}).errors);
        if (r.ok && form === appeal) {
          appeal.reset();
          appealCall.value = "";  // saved: the form closes until the next call
          sync();
        }
        if (r.status === 401) { window.location.assign("/ui/login"); }
      } catch (_) {
        show(false, "Нет связи с сервером: действие не выполнено");
      } finally {
        buttons.forEach(function (b) { b.disabled = false; });
      }
    });
  });

  appealTopic.addEventListener("change", filterSubtopics);

  const kbForm = document.getElementById("kb-form");
  const kbResults = document.getElementById("kb-results");
  kbForm.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const q = document.getElementById("kb-query").value;
    try {
      const r = await fetch("/ui/kb/search?q=" + encodeURIComponent(q), { credentials: "same-origin" });
      kbResults.innerHTML = r.ok ? await r.text() : '<p class="error">Поиск недоступен.</p>';
    } catch (_) {
      kbResults.innerHTML = '<p class="error">Нет связи с сервером.</p>';
    }
  });

  filterSubtopics();
  sync();
  connect();
})();
