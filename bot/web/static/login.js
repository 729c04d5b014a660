"use strict";
// Login: POST /api/login sets the session cookie; the console page is then served.
document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  const button = document.getElementById("login-button");
  error.hidden = true;
  button.disabled = true;
  try {
    const response = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
      }),
    });
    if (response.ok) {
      window.location.assign("/console");
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = body.error || "登录失败，请稍后再试";
    error.hidden = false;
  } catch (e) {
    error.textContent = "无法连接服务器，请检查网络";
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
});
