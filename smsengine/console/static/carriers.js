// The carriers page's live part: the tables rebuilt from /console/carriers.json every 2 s (the
// same figures the server rendered first; text only, never markup from the answer).
"use strict";

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function rows(tbody, items, build, empty) {
  const out = items.map(build);
  if (!out.length && empty) out.push(empty());
  tbody.replaceChildren(...out);
}

function row(data, cells) {
  const tr = document.createElement("tr");
  for (const [k, v] of Object.entries(data)) tr.dataset[k] = v;
  tr.append(...cells);
  return tr;
}

function emptyRow(columns, text) {
  return () => { const tr = document.createElement("tr"); tr.className = "none"; const td = cell(text, "hint"); td.colSpan = columns; tr.append(td); return tr; };
}

function drawCarriers(view) {
  rows(document.querySelector("#carriers tbody"), view.carriers, c => row({carrier: c.name}, [
    cell(c.name), cell(c.up ? "up" : "down", "state " + (c.up ? "up" : "down")),
    cell(`${c.binds_up}/${c.binds}`, "num"), cell(`${c.window_used}/${c.window}`, "num window"),
    cell(c.queue, "num queue"), cell(c.throttled, "num throttled"), cell(c.receipts, "num receipts"),
    cell(c.replies, "num replies"), cell(c.reconnects, "num reconnects"),
    cell(c.bind_failures, "num bind-failures"), cell(c.handler_errors, "num handler-errors"),
  ]), emptyRow(11, "no carriers configured"));
  const binds = view.carriers.flatMap(c => c.bind_list.map(b => [c.name, b]));
  rows(document.querySelector("#bind-list tbody"), binds, ([name, b]) => row({bind: `${name}/${b.index}`}, [
    cell(name), cell(b.index, "num"), cell(b.mode), cell(b.bound ? "bound" : "down", "state " + (b.bound ? "up" : "down")),
    cell(`${b.window_used}/${b.window}`, "num"), cell(b.paused_s ? `paused ${b.paused_s.toFixed(2)} s more` : "no"),
    cell(b.enquire_pending ? "awaiting answer" : "–"), cell(`${b.idle_s.toFixed(1)} s ago`, "num"),
  ]));
  rows(document.querySelector("#submit-errors tbody"), view.submit_errors, e => row({status: e.hex}, [
    cell(e.hex, "code"), cell(e.name || "(vendor)"), cell(e.count, "num"),
  ]), emptyRow(3, "none since the engine started"));
  for (const s of view.simulators) {
    const section = document.querySelector(`#simulators [data-simulator="${CSS.escape(s.name)}"]`);
    if (!section) continue;
    const old = section.querySelector("table, .unreachable");
    let fresh;
    if (s.reachable) {
      fresh = document.createElement("table");
      fresh.className = "grid counters";
      const body = document.createElement("tbody");
      for (const [key, value] of s.counters) {
        const th = document.createElement("th");
        th.textContent = key;
        body.append(row({counter: key}, [th, cell(value, "num")]));
      }
      fresh.append(body);
    } else {
      fresh = document.createElement("p");
      fresh.className = "flash error unreachable";
      fresh.textContent = "unreachable";
    }
    if (old) old.replaceWith(fresh); else section.append(fresh);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const live = document.getElementById("carriers-live");
  if (live) Console.poll(live, drawCarriers);
});
