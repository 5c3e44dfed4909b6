/* Tag preview (the dry run's diff) then apply; organise preview then apply. */
"use strict";
(() => {
  const { api, el, startJob } = RC;
  const $ = (id) => document.getElementById(id);
  const form = $("tag-form");
  let lastOptions = null;

  function options() {
    const f = form.elements;
    const body = { top_k: Number(f.top_k.value), mode: f.mode.value };
    if (f.path.value) body.paths = [f.path.value];
    if (f.rule.value === "threshold") body.min_confidence = Number(f.min_confidence.value);
    return body;
  }

  // the confidence field only matters for the "every genre at least this confident" rule
  const syncRule = () => { form.elements.min_confidence.disabled = form.elements.rule.value !== "threshold"; };
  form.elements.rule.addEventListener("change", syncRule);
  syncRule();

  const tagText = (genres) => (genres && genres.length ? genres.join("; ") : "(none)");

  function showPreview(result) {
    $("preview").hidden = false;
    const changes = result.changes;
    $("preview-count").textContent = `(${changes.count} file(s) would change, ${result.unchanged} already right, ${result.skipped.count} skipped)`;
    $("diff").tBodies[0].replaceChildren(...changes.items.map((c) => el("tr", {},
      el("td", { class: "path", text: c.path }), el("td", { class: "before", text: tagText(c.before) }),
      el("td", { text: "→" }), el("td", { class: "after", text: tagText(c.after) }))));
    if (!changes.count) $("diff").tBodies[0].append(el("tr", {}, el("td", { colspan: "4", class: "muted", text: "Nothing would change." })));
    $("preview-more").textContent = changes.truncated ? `Only the first ${changes.items.length} are listed.` : "";
    $("skipped-summary").textContent = `${result.skipped.count} skipped` + (result.failed.count ? `, ${result.failed.count} failed` : "");
    $("skipped").replaceChildren(...result.skipped.items.concat(result.failed.items).map((o) => el("li", { text: `${o.path}: ${o.reason}` })));
    $("apply-btn").disabled = changes.count === 0;
    $("apply-result").textContent = "";
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    lastOptions = options();
    $("preview-btn").disabled = true;
    try {
      const job = await startJob("tag", { ...lastOptions, dry_run: true });
      if (job.state === "done") showPreview(job.result);
      else $("apply-result").textContent = "Preview " + job.state + (job.error ? ": " + job.error : "");
    } catch (err) { alert(err.message); }
    $("preview-btn").disabled = false;
  });

  $("apply-btn").addEventListener("click", async () => {
    if (!lastOptions) return;
    $("apply-btn").disabled = true;
    try {
      const job = await startJob("tag", { ...lastOptions, dry_run: false });
      const r = job.result || {};
      $("apply-result").replaceChildren(job.state === "done"
        ? el("span", { class: "ok" }, `Written: ${r.changes.count} file(s) changed (run `, el("a", { href: `/runs/${r.run_id}`, text: String(r.run_id) }), "). Undo it from ", el("a", { href: "/runs", text: "Runs & undo" }), ".")
        : el("span", { class: "error", text: `Tagging ${job.state}` + (job.error ? ": " + job.error : (r.failed ? `: ${r.failed.count} failed` : "")) }));
    } catch (err) { $("apply-result").textContent = err.message; $("apply-btn").disabled = false; }
  });

  const organise = $("organise-form");
  async function runOrganise(dryRun) {
    const f = organise.elements;
    if (!f.into.value.trim()) { f.into.focus(); return; }
    const body = { into: f.into.value.trim(), copy: f.copy.checked, dry_run: dryRun };
    if (form.elements.path.value) body.paths = [form.elements.path.value];
    try {
      const job = await startJob("organise", body);
      const r = job.result;
      if (!r) { $("organise-result").textContent = "Organise " + job.state + (job.error ? ": " + job.error : ""); return; }
      $("organise-result").textContent = `${dryRun ? "Would place" : "Placed"} ${r.placed.count} file(s), ${r.unchanged} already in place, ${r.skipped.count} skipped` + (r.run_id ? ` (run ${r.run_id})` : "");
      $("placed").replaceChildren(...r.placed.items.slice(0, 200).map((p) => el("li", { text: `${p.from} → ${p.to}` })));
    } catch (err) { $("organise-result").textContent = err.message; }
  }
  organise.addEventListener("submit", (e) => { e.preventDefault(); runOrganise(true); });
  $("organise-apply").addEventListener("click", () => runOrganise(false));
})();
