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

  function filtersOnly(q) {
    const f = new URLSearchParams(q);
    for (const key of ["sort", "order", "offset", "limit"]) f.delete(key);
    return f.toString();
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

  let counted = null;  // the filters whose total is known

  function showCount(shownCount) {
    const known = counted !== null && counted.filters === filtersOnly(params());
    const last = state.offset + shownCount;
    const total = known ? counted.total : null;
    document.getElementById("count").textContent = total === null
      ? (shownCount ? `showing ${state.offset + 1}–${last} — counting…` : "No file matches these filters.")
      : `${total} file(s)` + (total ? ` — showing ${Math.min(state.offset + 1, total)}–${Math.min(last, total)}` : "");
    document.getElementById("pageinfo").textContent = total === null ? `page ${Math.floor(state.offset / state.limit) + 1}`
      : `page ${Math.floor(state.offset / state.limit) + 1} of ${Math.max(1, Math.ceil(total / state.limit))}`;
    document.getElementById("next").disabled = shownCount < state.limit || (total !== null && last >= total);
  }

  async function count(filters) {
    try {
      const result = await api("GET", "/api/files/count?" + filters);
      counted = { filters, total: result.total };
      if (filters === filtersOnly(params())) showCount(tbody.querySelectorAll("td.name").length);
    } catch (_) { /* the page works without the total */ }
  }

  async function load() {
    const q = params();
    history.replaceState(null, "", "?" + q.toString());
    const mine = ++seq;
    try {
      // the page first (it reads only what it shows), the total after it
      const page = await api("GET", "/api/files?total=false&" + q.toString());
      if (mine !== seq) return;  // a newer request was made meanwhile
      tbody.replaceChildren(...page.items.map(row));
      tbody.parentElement.dataset.shown = q.toString();  // what the table shows now
      if (!page.items.length) tbody.append(el("tr", {}, el("td", { colspan: "8", class: "muted", text: "No file matches these filters." })));
      document.getElementById("prev").disabled = state.offset === 0;
      showCount(page.items.length);
      for (const th of document.querySelectorAll("th[data-sort]")) {
        th.classList.toggle("sorted", th.dataset.sort === state.sort);
        th.dataset.order = th.dataset.sort === state.sort ? state.order : "";
      }
      const filters = filtersOnly(q);
      if (counted === null || counted.filters !== filters) count(filters);
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
