"use strict";
// Account administration (admins): list, create, activate/deactivate, reset password.
const ROLE_NAMES = { specialist: "专员", admin: "管理员" };

function say(text) {
  document.getElementById("staff-message").textContent = text;
}

async function load() {
  const rows = await api("/api/staff");
  const body = document.querySelector("#staff-table tbody");
  body.replaceChildren();
  for (const s of rows) {
    const tr = el("tr");
    tr.dataset.username = s.username;
    tr.append(el("td", s.username), el("td", s.display_name), el("td", ROLE_NAMES[s.role] || s.role),
      el("td", s.active ? (s.locked_until ? "已锁定" : "启用") : "停用"), el("td", when(s.last_login_at)));
    const ops = el("td");
    const toggle = el("button", s.active ? "停用" : "启用");
    toggle.type = "button";
    toggle.addEventListener("click", () => update(s.id, { active: !s.active }, `${s.username} 已${s.active ? "停用" : "启用"}`));
    const reset = el("button", "重置密码");
    reset.type = "button";
    reset.addEventListener("click", () => {
      const password = window.prompt(`为 ${s.username} 设置新密码（至少 10 个字符）`);
      if (password) update(s.id, { password }, `${s.username} 的密码已重置，原登录已失效`);
    });
    ops.append(toggle, reset);
    tr.append(ops);
    body.append(tr);
  }
}

async function update(id, body, done) {
  try {
    await api(`/api/staff/${id}`, { method: "PATCH", body });
    say(done);
    await load();
  } catch (e) {
    say(e.message);
  }
}

document.getElementById("create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const created = await api("/api/staff", {
      method: "POST",
      body: {
        username: document.getElementById("new-username").value.trim(),
        display_name: document.getElementById("new-display").value.trim() || null,
        role: document.getElementById("new-role").value,
        password: document.getElementById("new-password").value,
      },
    });
    say(`已创建 ${created.username}`);
    event.target.reset();
    await load();
  } catch (e) {
    say(e.message);
  }
});

load();
