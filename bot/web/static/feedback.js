"use strict";
// Admins: the 有帮助 / 没帮助 totals of the widget's answers and the answers most often found
// unhelpful (what to improve in the knowledge base first). Answers go in as text only.
async function load() {
  const message = document.getElementById("feedback-message");
  try {
    const data = await api("/api/feedback");
    const total = data.helpful + data.unhelpful;
    document.getElementById("helpful").textContent = String(data.helpful);
    document.getElementById("unhelpful").textContent = String(data.unhelpful);
    document.getElementById("ratio").textContent = total ? `${Math.round((data.helpful / total) * 100)}%` : "–";
    const body = document.querySelector("#unhelpful-table tbody");
    body.replaceChildren();
    for (const row of data.most_unhelpful) {
      const tr = el("tr");
      tr.append(el("td", String(row.count), "count"), el("td", row.answer, "answer"));
      body.append(tr);
    }
    document.getElementById("feedback-empty").hidden = data.most_unhelpful.length > 0;
    message.textContent = `已更新 ${when(new Date().toISOString())}`;
  } catch (e) {
    message.textContent = e.message;
  }
}

document.getElementById("refresh").addEventListener("click", load);
load();
