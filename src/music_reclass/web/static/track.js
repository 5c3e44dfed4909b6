/* One track: accept the model's genres or correct them. */
"use strict";
(() => {
  const { api, genresOf } = RC;
  const card = document.querySelector("[data-file-id]");
  const form = document.getElementById("correct-form");
  if (!card || !form) return;
  const id = Number(card.dataset.fileId);
  const result = document.getElementById("correct-result");
  const done = (report, verb) => {
    if (report.refused.length) { result.textContent = "Refused: " + report.refused[0].reason; return; }
    result.textContent = `${verb}: ${report.corrected[0].genres.join(", ")} (run ${report.run_id}, undo it from Runs).`;
    setTimeout(() => location.reload(), 800);
  };
  document.getElementById("accept-btn").addEventListener("click", async () => {
    try { done(await api("POST", "/api/accept", { file_ids: [id] }), "Accepted"); }
    catch (err) { result.textContent = err.message; }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const genres = genresOf(form.elements.genres.value);
    if (!genres.length) return;
    try { done(await api("POST", "/api/corrections", { file_ids: [id], genres }), "Saved"); }
    catch (err) { result.textContent = err.message; }
  });
})();
