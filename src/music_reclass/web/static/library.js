/* The library table: filters, search, sorting and paging, all done by the server. */
"use strict";
(() => {
  const { api, el, pct, duration } = RC;
  const form = document.getElementById("filters");
  const tbody = document.querySelector("#files tbody");
  const state = { offset: 0, limit: 50, sort: "path", order: "asc", total: 0 };
  let timer = null;
  let seq = 0;

  function params() {
    const q = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value !== "") q.set(key, value);
    q.set("sort", state.sort); q.set("order", state.order);
    q.set("offset", state.offset); q.set("limit", state.limit);
    return q;
  }

  function restore() {
    const q = new URLSearchParams(location.search);
    for (const field of form.elements) {
      if (!field.name || !q.has(field.name)) continue;
      if (field.type === "checkbox") field.checked = q.get(field.name) === field.value;
      else field.value = q.get(field.name);
    }
    state.sort = q.get("sort") || "path"; state.order = q.get("order") || "asc";
    state.offset = Number(q.get("offset") || 0);
  }

  function status(item) {
    if (item.missing) return "missing";
    if (item.status === "error") return "failed: " + (item.error_code || "");
    if (item.correction) return "corrected";
    if (item.status === "ok" && !item.model_id) return "not analysed";
    if (item.status === "ok" && !item.decided) return "review";
    return item.status;
  }

  function row(item) {
    const link = el("a", { href: `/track/${item.id}`, text: item.name, title: item.path });
    const conf = item.top_confidence;
    return el("tr", { "data-id": item.id, class: item.correction ? "corrected" : null },
      el("td", { class: "name" }, link),
      el("td", { text: item.artist || "" }),
      el("td", { text: item.title || "" }),
      el("td", { text: (item.correction || (item.top_genre ? [item.top_genre] : [])).join(", ") }),
      el("td", { class: "conf" }, conf === null ? "" : el("meter", { min: "0", max: "1", value: String(conf) }), " ", pct(conf)),
      el("td", { text: (item.genre_tags || []).join("; ") }),
      el("td", { class: "status-" + status(item).split(":")[0].replace(" ", "-"), text: status(item) }),
      el("td", { text: duration(item.duration) }));
  }

  async function load() {
    const q = params();
    history.replaceState(null, "", "?" + q.toString());
    const mine = ++seq;
    try {
      const page = await api("GET", "/api/files?" + q.toString());
      if (mine !== seq) return;  // a newer request was made meanwhile
      state.total = page.total;
      tbody.replaceChildren(...page.items.map(row));
      tbody.parentElement.dataset.shown = q.toString();  // what the table shows now
      if (!page.items.length) tbody.append(el("tr", {}, el("td", { colspan: "8", class: "muted", text: "No file matches these filters." })));
      const last = Math.min(state.offset + page.items.length, page.total);
      document.getElementById("count").textContent = `${page.total} file(s)` + (page.total ? ` — showing ${state.offset + 1}–${last}` : "");
      document.getElementById("pageinfo").textContent = `page ${Math.floor(state.offset / state.limit) + 1} of ${Math.max(1, Math.ceil(page.total / state.limit))}`;
      document.getElementById("prev").disabled = state.offset === 0;
      document.getElementById("next").disabled = last >= page.total;
      for (const th of document.querySelectorAll("th[data-sort]")) {
        th.classList.toggle("sorted", th.dataset.sort === state.sort);
        th.dataset.order = th.dataset.sort === state.sort ? state.order : "";
      }
    } catch (err) {
      document.getElementById("count").textContent = "Could not list the files: " + err.message;
    }
  }

  function reload() { state.offset = 0; clearTimeout(timer); timer = setTimeout(load, 200); }

  form.addEventListener("input", reload);
  form.addEventListener("submit", (e) => { e.preventDefault(); reload(); });
  form.addEventListener("reset", () => setTimeout(reload, 0));
  document.getElementById("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  document.getElementById("next").addEventListener("click", () => { state.offset += state.limit; load(); });
  for (const th of document.querySelectorAll("th[data-sort]")) {
    th.tabIndex = 0;
    const sort = () => {
      state.order = state.sort === th.dataset.sort && state.order === "asc" ? "desc" : "asc";
      state.sort = th.dataset.sort; state.offset = 0; load();
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
  }
  restore();
  load();
})();
