/* Shared helpers of the Music ReClass pages: API calls, DOM building, the job bar. */
"use strict";

const RC = (() => {
  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
    if (!response.ok) {
      if (response.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname); }
      let detail = data && data.detail;
      if (Array.isArray(detail)) detail = detail.map((d) => (d.loc || []).slice(-1)[0] + ": " + d.msg).join("; ");
      throw new Error(detail || response.statusText || ("HTTP " + response.status));
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const pct = (x) => (x === null || x === undefined ? "" : Math.round(x * 100) + "%");
  const duration = (s) => (s ? Math.floor(s / 60) + ":" + String(Math.floor(s % 60)).padStart(2, "0") : "");
  const genresOf = (text) => text.split(/[,;]/).map((g) => g.trim()).filter(Boolean);

  function bars(list, items) {
    list.replaceChildren(...items.map((g) => el("li", {},
      el("span", { class: "label", text: g.label }),
      el("meter", { min: "0", max: "1", value: String(g.confidence) }),
      el("span", { class: "num", text: pct(g.confidence) }))));
  }

  // -- the job bar: one background job at a time, followed over Server-Sent Events
  const bar = () => document.getElementById("jobbar");
  let current = null;

  function showJob(job) {
    const text = document.getElementById("jobbar-text");
    const progress = document.getElementById("jobbar-progress");
    const cancel = document.getElementById("jobbar-cancel");
    bar().hidden = false;
    const verb = job.kind + (job.params && job.params.dry_run ? " (preview)" : "");
    const counts = job.total ? ` ${job.done} / ${job.total}` : "";
    text.textContent = `Job ${job.id}: ${verb} — ${job.state}${counts}` +
      (job.error ? ": " + job.error : "") + (job.cancel_requested && job.state === "running" ? " (stopping…)" : "");
    if (job.total) { progress.max = job.total; progress.value = job.done; } else { progress.removeAttribute("value"); }
    const finished = ["done", "failed", "cancelled"].includes(job.state);
    cancel.hidden = finished;
    bar().dataset.state = job.state;
    if (finished) { progress.max = 1; progress.value = 1; }
  }

  function watchJob(job, onEnd) {
    current = job.id;
    showJob(job);
    return new Promise((resolve) => {
      const source = new EventSource(`/api/jobs/${job.id}/events`);
      const finish = (snap) => {
        source.close();
        showJob(snap);
        setTimeout(() => { if (current === snap.id) bar().hidden = true; }, 8000);
        if (onEnd) onEnd(snap);
        resolve(snap);
      };
      source.addEventListener("progress", (e) => showJob(JSON.parse(e.data)));
      source.addEventListener("end", (e) => finish(JSON.parse(e.data)));
      source.onerror = async () => {
        source.close();
        try { finish(await api("GET", `/api/jobs/${job.id}`)); } catch (_) { resolve(job); }
      };
    });
  }

  async function startJob(kind, body, onEnd) {
    const job = await api("POST", `/api/jobs/${kind}`, body);
    return watchJob(job, onEnd);
  }

  document.addEventListener("DOMContentLoaded", async () => {
    document.getElementById("jobbar-cancel").addEventListener("click", () => {
      if (current !== null) api("POST", `/api/jobs/${current}/cancel`).catch(() => {});
    });
    if (document.body.dataset.page === "login") return;
    try {
      const jobs = await api("GET", "/api/jobs");
      const running = jobs.find((j) => !["done", "failed", "cancelled"].includes(j.state));
      if (running) watchJob(running);
    } catch (_) { /* the page works without the bar */ }
  });

  return { api, el, pct, duration, genresOf, bars, startJob, watchJob };
})();
