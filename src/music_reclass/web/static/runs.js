/* Undo buttons of the runs pages. */
"use strict";
(() => {
  const { startJob } = RC;
  const out = document.getElementById("undo-result");
  async function undo(runId, button) {
    if (button) button.disabled = true;
    try {
      const job = await startJob("undo", runId === null ? {} : { run_id: runId });
      const r = job.result;
      if (!r) { out.textContent = "Undo " + job.state + (job.error ? ": " + job.error : ""); }
      else {
        out.textContent = `Run ${r.run_id}: ${r.undone.count} undone` + (r.refused.count ? `, ${r.refused.count} refused (${r.refused.items[0]})` : "") + (r.skipped.count ? `, ${r.skipped.count} skipped` : "") + ".";
        setTimeout(() => location.reload(), 1500);
      }
    } catch (err) { out.textContent = err.message; }
    if (button) button.disabled = false;
  }
  for (const button of document.querySelectorAll("button.undo")) {
    button.addEventListener("click", () => undo(Number(button.dataset.run), button));
  }
  const latest = document.getElementById("undo-latest");
  if (latest) latest.addEventListener("click", () => undo(null, latest));
})();
