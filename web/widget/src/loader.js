// <script src="https://ASSISTANT/static/widget/loader.js" data-title="人才服务助手"
//         data-color="#1f6feb" data-greeting="您好！"></script>
// Adds a launcher button and opens the chat (served by the assistant) in a frame; on narrow
// screens the chat opens as a full page instead. Keyboard: the button is a real button
// (Enter/Space), Escape closes the frame and gives the focus back to the button.
(function () {
  const script = document.currentScript;
  const server = ((script && script.dataset.server) || new URL(script.src).origin).replace(/\/+$/, "");
  const origin = new URL(server).origin;
  const title = (script && script.dataset.title) || "人才服务助手";
  const given = (script && script.dataset.color) || "";
  const color = /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(given) ? given : "#1f6feb";
  const greeting = (script && script.dataset.greeting) || "";
  const url = `${server}/chat?${new URLSearchParams({ embed: "1", title, color, greeting })}`;

  // White text on the theme colour only where it reaches WCAG's 4.5:1, else dark text.
  function luminance(hex) {
    const full = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c) : hex;
    return [1, 3, 5]
      .map((i) => parseInt(full.slice(i, i + 2), 16) / 255)
      .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
      .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  }
  const textColor = 1.05 / (luminance(color) + 0.05) >= 4.5 ? "#fff" : "#11192d";

  const button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", `打开${title}在线咨询`);
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", "talent-assistant-frame");
  button.textContent = "咨询";
  Object.assign(button.style, {
    position: "fixed", right: "20px", bottom: "20px", zIndex: 2147483000, width: "60px", height: "60px",
    borderRadius: "50%", border: "2px solid #fff", background: color, color: textColor, fontSize: "16px",
    boxShadow: "0 4px 12px rgba(0,0,0,.25)", cursor: "pointer",
  });
  let frame = null;

  function focusChat() {
    frame.focus();
    frame.contentWindow.postMessage({ type: "talent-assistant:focus" }, origin);
  }

  function open() {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = "talent-assistant-frame";
      frame.src = url;
      frame.title = title;
      Object.assign(frame.style, {
        position: "fixed", right: "20px", bottom: "90px", width: "380px", height: "600px", maxHeight: "80vh",
        border: "1px solid #d9e2ec", borderRadius: "12px", zIndex: 2147483000, background: "#fff",
        boxShadow: "0 8px 24px rgba(0,0,0,.2)",
      });
      document.body.appendChild(frame);
    } else {
      frame.style.display = "block";
      focusChat();
    }
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-label", `关闭${title}在线咨询`);
    button.textContent = "关闭";
  }

  function close() {
    if (!frame || frame.style.display === "none") return;
    frame.style.display = "none";
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", `打开${title}在线咨询`);
    button.textContent = "咨询";
    button.focus();
  }

  button.addEventListener("click", () => {
    if (window.innerWidth < 600) {
      window.location.assign(`${server}/chat?${new URLSearchParams({ title, color, greeting })}`);
      return;
    }
    if (frame && frame.style.display !== "none") close();
    else open();
  });
  // From the chat: "ready" (it can take the focus now), "close" (Escape or its close button).
  window.addEventListener("message", (event) => {
    if (!frame || event.source !== frame.contentWindow || event.origin !== origin || !event.data) return;
    if (event.data.type === "talent-assistant:close") close();
    else if (event.data.type === "talent-assistant:ready" && frame.style.display !== "none") focusChat();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });
  document.body.appendChild(button);
})();
