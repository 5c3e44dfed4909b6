/* The review queue, driven by the keyboard: Space play, A accept, C correct, S skip. */
"use strict";
(() => {
  const { api, el, pct, bars, genresOf } = RC;
  const $ = (id) => document.getElementById(id);
  const player = $("r-player");
  let queue = [];
  let index = 0;
  let total = 0;

  async function load() {
    const page = await api("GET", "/api/review?limit=200");
    queue = page.items; total = page.total; index = 0;
    render();
  }

  function renderQueue() {
    $("q-count").textContent = `(${total} waiting)`;
    $("queue").replaceChildren(...queue.map((item, i) => el("li", {
      class: i === index ? "current" : null,
      onclick: () => { index = i; render(); },
    }, el("span", { text: item.title || item.name }), " ",
       el("span", { class: "muted", text: (item.top_genre || "") + " " + pct(item.top_confidence) }))));
  }

  function render() {
    renderQueue();
    const item = queue[index];
    $("item").hidden = !item; $("empty").hidden = Boolean(item);
    if (!item) { player.removeAttribute("src"); return; }
    $("r-title").textContent = item.title || item.name;
    $("r-path").textContent = item.path;
    bars($("r-genres"), item.genres.slice(0, 5));
    $("r-reason").textContent = "Abstained" + (item.abstain_reason ? ": " + item.abstain_reason : "");
    $("r-tags").textContent = "Tags in the file: " + ((item.genre_tags || []).join("; ") || "none") +
      " · why: " + (item.tags || []).slice(0, 5).map((t) => t.label).join(", ");
    $("r-accept").textContent = `Accept ${item.decided ? item.decided.join(", ") : item.top_genre} (A)`;
    $("r-genres-input").value = "";
    const src = `/api/files/${item.id}/audio`;
    if (player.getAttribute("src") !== src) player.setAttribute("src", src);
  }

  function resolved(message) {
    $("r-result").textContent = message;
    queue.splice(index, 1); total = Math.max(0, total - 1);
    if (index >= queue.length) index = Math.max(0, queue.length - 1);
    render();
    if (!queue.length && total) load();
  }

  async function accept() {
    const item = queue[index];
    if (!item) return;
    try {
      const r = await api("POST", "/api/accept", { file_ids: [item.id] });
      resolved(r.refused.length ? "Refused: " + r.refused[0].reason : `Accepted ${r.corrected[0].genres.join(", ")} for ${item.name} (run ${r.run_id}).`);
    } catch (err) { $("r-result").textContent = err.message; }
  }

  async function correct(event) {
    event.preventDefault();
    const item = queue[index];
    const genres = genresOf($("r-genres-input").value);
    if (!item || !genres.length) { $("r-genres-input").focus(); return; }
    try {
      const r = await api("POST", "/api/corrections", { file_ids: [item.id], genres });
      $("r-genres-input").blur();
      resolved(r.refused.length ? "Refused: " + r.refused[0].reason : `Saved ${genres.join(", ")} for ${item.name} (run ${r.run_id}).`);
    } catch (err) { $("r-result").textContent = err.message; }
  }

  function skip(step) {
    if (!queue.length) return;
    index = (index + step + queue.length) % queue.length;
    render();
  }

  document.addEventListener("keydown", (e) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (typing) { if (e.key === "Escape") document.activeElement.blur(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.toLowerCase();
    if (key === " ") { e.preventDefault(); if (player.paused) player.play().catch(() => {}); else player.pause(); }
    else if (key === "a") { e.preventDefault(); accept(); }
    else if (key === "c") { e.preventDefault(); $("r-genres-input").focus(); }
    else if (key === "s" || key === "arrowdown" || key === "j") { e.preventDefault(); skip(1); }
    else if (key === "arrowup" || key === "k") { e.preventDefault(); skip(-1); }
  });
  $("r-accept").addEventListener("click", accept);
  $("r-correct").addEventListener("submit", correct);
  $("r-skip").addEventListener("click", () => skip(1));
  $("bulk").addEventListener("submit", async (e) => {
    e.preventDefault();
    const threshold = Number(e.target.elements.threshold.value);
    try {
      const r = await api("POST", "/api/accept", { min_confidence: threshold });
      $("bulk-result").textContent = `Accepted ${r.corrected.length} track(s) (run ${r.run_id}; undo it from Runs).`;
      load();
    } catch (err) { $("bulk-result").textContent = err.message; }
  });
  load().catch((err) => { $("empty").hidden = false; $("empty").textContent = err.message; });
})();
