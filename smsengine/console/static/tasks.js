// A scheduled or running task's page: its counts refreshed every 2 s; when it is over, the page
// loads again for its final messages.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const tiles = document.getElementById("task-counts");
  if (!tiles || !tiles.dataset.live) return;
  const first = document.getElementById("task-status").textContent;
  const tick = async () => {
    let view;
    try {
      const resp = await fetch(tiles.dataset.live, {credentials: "same-origin"});
      if (!resp.ok) return setTimeout(tick, 2000);
      view = await resp.json();
    } catch (e) {
      return setTimeout(tick, 2000);
    }
    const status = document.getElementById("task-status");
    status.textContent = view.status;
    status.className = `n status-${view.status}`;
    for (const [name, n] of Object.entries(view.counts)) document.getElementById(`count-${name}`).textContent = n;
    document.getElementById("task-recipients").textContent = view.recipients;
    document.getElementById("task-segments").textContent = view.segments_charged;
    document.getElementById("rows-rejected").textContent = view.rows_rejected;
    if (view.status !== first && (view.status === "completed" || view.status === "cancelled" || first === "scheduled")) {
      window.location.reload();  // started or over: its messages and times are on the page
    } else {
      setTimeout(tick, 2000);
    }
  };
  setTimeout(tick, 2000);
});
