// The send page: parameter fields for the chosen template, the live preview (computed by the
// engine at /console/send/preview), and on the results page each message's status until final.
"use strict";

const Send = {
  templates: [],
  timer: null,

  template() {
    const id = document.getElementById("template").value;
    return Send.templates.find(t => String(t.id) === id) || null;
  },

  // one input per placeholder of the chosen template; values kept where the count allows
  fields(values) {
    const box = document.getElementById("params");
    const t = Send.template();
    const old = values || [...box.querySelectorAll("input")].map(i => i.value);
    box.replaceChildren();
    for (let i = 1; t && i <= t.params; i++) {
      const label = document.createElement("label");
      label.textContent = `{${i}} `;
      const input = document.createElement("input");
      input.name = "param"; input.id = `param-${i}`; input.maxLength = 64;
      input.value = old[i - 1] || "";
      label.append(input);
      box.append(label);
    }
    document.getElementById("template-text").textContent = t ? t.text : "";
    const content = document.getElementById("content-label");
    if (content) content.style.display = t ? "none" : "";
  },

  body() {
    const t = Send.template();
    const content = document.getElementById("content");
    return {
      template_id: t ? t.id : null,
      params: [...document.querySelectorAll("#params input")].map(i => i.value),
      sign: document.getElementById("sign").value,
      type: document.getElementById("type").value,
      content: !t && content ? content.value : null,
      numbers: document.getElementById("numbers").value,
    };
  },

  async preview() {
    let view;
    try {
      view = await Console.post("/console/send/preview", Send.body());
    } catch (e) {
      return;  // the next keystroke asks again
    }
    if (view.rows === undefined) {
      document.getElementById("preview-numbers").textContent = view.message || "";
      return;
    }
    for (const row of view.rows) {
      const box = document.getElementById(`preview-${row.region}`);
      box.querySelector(".text").textContent = row.text;
      box.querySelector(".encoding").textContent = row.code ? "" : `· ${row.encoding} ${row.capacity}`;
      box.querySelector(".chars").textContent = row.code ? "–" : row.chars;
      box.querySelector(".segments").textContent = row.code ? "–" : row.segments;
      box.querySelector(".units").textContent = row.code ? "" : `(${row.units} ${row.unit_name})`;
      const problem = box.querySelector(".problem");
      problem.textContent = row.message;
      problem.hidden = !row.code;
      box.classList.toggle("refused", !!row.code);
      // a template is for one region's numbers only: the other row says so, quietly
      box.classList.toggle("elsewhere", !row.applies);
      if (!row.applies) problem.hidden = true;
    }
    const n = view.numbers;
    const parts = [`${n.valid} number${n.valid === 1 ? "" : "s"}` + (n.regions.length ? ` (${n.regions.join(", ")})` : "")];
    if (n.duplicates) parts.push(`${n.duplicates} repeated`);
    if (n.invalid_count) parts.push(`${n.invalid_count} invalid: ${n.invalid.join(", ")}`);
    const numbers = document.getElementById("preview-numbers");
    numbers.textContent = parts.join(" · ");
    for (const p of n.problems) {
      const line = document.createElement("p");
      line.className = "flash error"; line.textContent = p;
      numbers.append(line);
    }
  },

  later() {
    clearTimeout(Send.timer);
    Send.timer = setTimeout(Send.preview, 150);
  },

  init(form) {
    Send.templates = JSON.parse(document.getElementById("send-templates").textContent);
    Send.fields(JSON.parse(document.getElementById("send-params").textContent));
    const type = document.getElementById("type");
    const chosen = () => { const t = Send.template(); if (t) type.value = t.type; };
    if (!form.dataset.type) chosen();
    document.getElementById("template").addEventListener("change", () => { Send.fields(); chosen(); });
    // a file is posted by script with the CSRF header (multipart read whole by the server);
    // typed numbers go as a plain form
    form.addEventListener("submit", async event => {
      if (!document.getElementById("file").files.length) {
        form.enctype = "application/x-www-form-urlencoded";
        return;
      }
      event.preventDefault();
      const resp = await fetch(form.action, {method: "POST", credentials: "same-origin",
                                             headers: {"X-CSRF-Token": Console.csrf()}, body: new FormData(form)});
      const answer = resp.headers.get("Content-Type").startsWith("application/json") ? await resp.json() : {};
      window.location.assign(answer.location || "/console/send");
    });
    form.addEventListener("input", Send.later);
    form.addEventListener("change", Send.later);
    Send.preview();
  },

  // the results page: each accepted message's status, until every one is final
  watch(table) {
    const final = new Set(["delivered", "failed", "expired", "cancelled"]);
    const tick = async () => {
      const resp = await fetch(`/console/send/status.json?ids=${table.dataset.ids}`, {credentials: "same-origin"});
      if (!resp.ok) return;
      const {messages} = await resp.json();
      let open = 0;
      for (const [id, m] of Object.entries(messages)) {
        const cell = table.querySelector(`tr[data-message-id="${id}"] td.status`);
        if (!cell) continue;
        cell.textContent = m.status + (m.code ? ` (${m.code} ${m.remark})` : "");
        cell.className = `status status-${m.status}`;
        if (!final.has(m.status)) open++;
      }
      if (open) setTimeout(tick, 1000);
    };
    tick();
  },
};

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("send-form");
  if (form) Send.init(form);
  const results = document.getElementById("results");
  if (results && results.dataset.ids) Send.watch(results);
});
