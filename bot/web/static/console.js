"use strict";
// The specialist's console: queue (live), conversation, reply, notes, claim and close.
const state = { tab: "waiting", selected: null, me: null, ticket: null, query: "" };
const REASONS = { user_request: "用户请求", fallback: "机器人未理解", lookup_locked: "查询锁定", complaint: "投诉" };
const CHANNELS = { socketio: "网页", wechat: "微信", rest: "接口", unknown: "未知" };
const ROLES = { user: "用户", bot: "助手", staff: "专员" };

async function loadMe() {
  state.me = await api("/api/me");
}

async function loadQueue() {
  const status = state.tab;
  const q = status === "closed" && state.query ? `&q=${encodeURIComponent(state.query)}` : "";
  const [tickets, waiting, active] = await Promise.all([
    api(`/api/handoffs?status=${status}${q}`),
    status === "waiting" ? null : api("/api/handoffs?status=waiting"),
    status === "active" ? null : api("/api/handoffs?status=active"),
  ]);
  document.getElementById("count-waiting").textContent = (status === "waiting" ? tickets : waiting).length;
  document.getElementById("count-active").textContent = (status === "active" ? tickets : active).length;
  const list = document.getElementById("tickets");
  list.replaceChildren();
  for (const t of tickets) {
    const item = el("li", null, "ticket" + (t.id === state.selected ? " selected" : ""));
    item.dataset.id = t.id;
    item.tabIndex = 0;
    const top = el("div", null, "row");
    top.append(el("strong", `#${t.id}`), el("span", CHANNELS[t.channel] || t.channel, "tag"),
      el("span", REASONS[t.reason] || t.reason, "tag " + t.reason));
    if (t.out_of_hours) top.append(el("span", "非工作时间", "tag"));
    if (t.delivery_error) top.append(el("span", "消息未送达", "tag undelivered"));
    const meta = el("div", null, "row meta");
    if (t.status === "waiting") meta.append(el("span", `已等待 ${waited(t.created_at)}`, "wait"));
    else if (t.status === "active") meta.append(el("span", `专员：${t.assignee || ""}`));
    else meta.append(el("span", `结束于 ${when(t.closed_at)}` + (t.rating ? ` · 评分 ${t.rating}` : "")));
    meta.append(el("span", `最近 ${when(t.updated_at)}`));
    item.append(top, el("p", t.summary, "summary"), meta);
    item.addEventListener("click", () => select(t.id));
    item.addEventListener("keydown", (e) => { if (e.key === "Enter") select(t.id); });
    list.append(item);
  }
  document.getElementById("empty").hidden = tickets.length > 0;
}

async function select(id) {
  state.selected = id;
  await loadTicket();
  await loadQueue();
}

async function loadTicket() {
  if (state.selected === null) return;
  let t;
  try {
    t = await api(`/api/handoffs/${state.selected}`);
  } catch (e) {
    return;
  }
  state.ticket = t;
  document.getElementById("placeholder").hidden = true;
  document.getElementById("conversation").hidden = false;
  document.getElementById("title").textContent =
    `#${t.id} · ${CHANNELS[t.channel] || t.channel} · ${{ waiting: "排队中", active: "服务中", closed: "已结束" }[t.status]}`;
  const context = document.getElementById("context");
  context.replaceChildren();
  const facts = [["原因", REASONS[t.reason] || t.reason], ["会话号", t.sender_id], ["创建", when(t.created_at)],
    ["城市", t.context.region], ["政策", t.context.policy], ["申请编号", t.context.application_no],
    ["专员", t.assignee], ["评分", t.rating]];
  for (const [k, v] of facts) {
    if (v === undefined || v === null || v === "") continue;
    context.append(el("dt", k), el("dd", String(v)));
  }
  const undelivered = document.getElementById("delivery-error");
  undelivered.hidden = !t.delivery_error;
  undelivered.textContent = t.delivery_error ? `最近一条消息未送达：${t.delivery_error}` : "";
  const mine = t.status === "active" && (t.assignee === state.me.username || state.me.role === "admin");
  document.getElementById("claim").hidden = t.status !== "waiting";
  document.getElementById("close").hidden = !mine;
  document.getElementById("reply-area").hidden = !mine;
  const transcript = document.getElementById("transcript");
  const atBottom = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
  transcript.replaceChildren();
  for (const line of t.transcript) {
    const item = el("li", null, `line ${line.role}`);
    const who = line.role === "staff" && line.staff ? `专员 ${line.staff}` : ROLES[line.role];
    item.append(el("span", `${who} · ${when(line.time)}`, "who"), el("p", line.text, "text"));
    transcript.append(item);
  }
  if (atBottom || transcript.dataset.id !== String(t.id)) transcript.scrollTop = transcript.scrollHeight;
  transcript.dataset.id = String(t.id);
  const notes = document.getElementById("notes");
  notes.replaceChildren();
  for (const n of t.notes) notes.append(el("li", `${n.author} · ${when(n.time)}：${n.text}`));
}

async function act(path, body) {
  const error = document.getElementById("reply-error");
  error.hidden = true;
  try {
    await api(path, { method: "POST", body: body === undefined ? {} : body });
    await Promise.all([loadTicket(), loadQueue()]);
    return true;
  } catch (e) {
    error.textContent = e.message;
    error.hidden = false;
    alertIfHidden(e.message);
    return false;
  }
}

function alertIfHidden(message) {
  if (document.getElementById("reply-area").hidden) window.alert(message);
}

function connectLive() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/stream");
  source.addEventListener("update", () => {
    live.className = "live on";
    loadQueue();
    loadTicket();
  });
  source.onerror = () => { live.className = "live off"; };
  source.onopen = () => { live.className = "live on"; };
}

async function loadCanned() {
  const replies = await api("/api/canned-replies");
  const box = document.getElementById("canned");
  for (const r of replies) {
    const b = el("button", r.title, "chip");
    b.type = "button";
    b.title = r.text;
    b.addEventListener("click", () => {
      const area = document.getElementById("reply");
      area.value = area.value ? `${area.value}\n${r.text}` : r.text;
      area.focus();
    });
    box.append(b);
  }
}

function wire() {
  for (const tab of document.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", () => {
      document.querySelectorAll("[data-tab]").forEach((t) => t.classList.toggle("active", t === tab));
      state.tab = tab.dataset.tab;
      document.getElementById("search-form").hidden = state.tab !== "closed";
      loadQueue();
    });
  }
  document.getElementById("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.query = document.getElementById("search").value.trim();
    loadQueue();
  });
  document.getElementById("claim").addEventListener("click", () => act(`/api/handoffs/${state.selected}/claim`));
  document.getElementById("close").addEventListener("click", () => {
    if (window.confirm("结束本次人工服务？用户将收到结束语和评分邀请，之后由智能助手继续回答。")) {
      act(`/api/handoffs/${state.selected}/close`);
    }
  });
  const reply = document.getElementById("reply");
  document.getElementById("reply-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = reply.value.trim();
    if (!text) return;
    document.getElementById("send").disabled = true;
    if (await act(`/api/handoffs/${state.selected}/messages`, { text })) reply.value = "";
    document.getElementById("send").disabled = false;
    reply.focus();
  });
  reply.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) document.getElementById("reply-form").requestSubmit();
  });
  document.getElementById("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = document.getElementById("note");
    if (note.value.trim() && await act(`/api/handoffs/${state.selected}/notes`, { text: note.value.trim() })) note.value = "";
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await api("/api/logout", { method: "POST", body: {} }).catch(() => null);
    window.location.assign("/console/login");
  });
  // Waiting times tick even when nothing changes.
  setInterval(loadQueue, 30000);
}

(async () => {
  wire();
  await loadMe();
  await Promise.all([loadQueue(), loadCanned()]);
  connectLive();
})();
