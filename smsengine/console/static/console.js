// smsengine console: the few lines of script the pages need (no framework, nothing fetched from
// elsewhere). Pages with a live part carry data-live="URL"; it is polled every 2 s.
"use strict";

const Console = {
  csrf() { return document.querySelector('meta[name="csrf-token"]').content; },

  // a JSON POST to a console endpoint, with the session's CSRF token
  async post(url, body) {
    const resp = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": Console.csrf()},
      body: JSON.stringify(body),
    });
    return resp.json();
  },

  poll(element, render, every = 2000) {
    const url = element.dataset.live;
    const tick = async () => {
      try {
        const resp = await fetch(url, {credentials: "same-origin"});
        if (resp.ok) render(await resp.json());
      } catch (e) { /* the next tick tries again */ }
    };
    setInterval(tick, every);
  },
};

function drawThroughput(live) {
  const figure = document.getElementById("throughput");
  const minutes = live.minutes;
  const bad = minutes.map(m => m.failed + m.expired);
  const peak = Math.max(1, ...minutes.map(m => m.delivered), ...bad);
  const points = values => values.map((v, i) =>
    `${(i * 600 / Math.max(1, values.length - 1)).toFixed(1)},${(150 - v * 140 / peak).toFixed(1)}`).join(" ");
  figure.querySelector(".series.delivered").setAttribute("points", points(minutes.map(m => m.delivered)));
  figure.querySelector(".series.failed").setAttribute("points", points(bad));
  document.getElementById("peak").textContent = Math.max(0, ...minutes.map(m => m.delivered + m.failed + m.expired));
  document.getElementById("open").textContent = live.open;
  for (const c of live.carriers) {
    const row = document.querySelector(`#binds tr[data-carrier="${CSS.escape(c.name)}"]`);
    if (!row) continue;
    const cells = row.querySelectorAll("td");
    cells[1].textContent = c.up ? "up" : "down";
    cells[1].className = "state " + (c.up ? "up" : "down");
    cells[2].textContent = `${c.binds_up}/${c.binds}`;
    cells[3].textContent = `${c.window_used}/${c.window}`;
    cells[4].textContent = `${c.throttled_now ? "paused now" : "no"} (${c.throttled} throttled)`;
    cells[5].textContent = c.queue;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const figure = document.getElementById("throughput");
  if (figure) {
    drawThroughput(JSON.parse(document.getElementById("live-initial").textContent));
    Console.poll(figure, drawThroughput);
  }
});
