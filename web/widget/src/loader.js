// <script src="https://ASSISTANT/static/widget/loader.js" data-title="人才服务助手"
//         data-color="#1f6feb" data-greeting="您好！"></script>
// Adds a launcher button and opens the chat (served by the assistant) in a frame; on narrow
// screens the chat opens as a full page instead.
(function () {
  const script = document.currentScript;
  const server = (script && script.dataset.server) || new URL(script.src).origin;
  const title = (script && script.dataset.title) || "人才服务助手";
  const color = (script && script.dataset.color) || "#1f6feb";
  const greeting = (script && script.dataset.greeting) || "";
  const params = new URLSearchParams({ embed: "1", title, color, greeting });
  const url = `${server}/chat?${params}`;

  const button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", `打开${title}`);
  button.textContent = "咨询";
  Object.assign(button.style, {
    position: "fixed", right: "20px", bottom: "20px", zIndex: 2147483000, width: "60px", height: "60px",
    borderRadius: "50%", border: "none", background: color, color: "#fff", fontSize: "16px",
    boxShadow: "0 4px 12px rgba(0,0,0,.25)", cursor: "pointer",
  });
  let frame = null;
  button.addEventListener("click", () => {
    if (window.innerWidth < 600) {
      window.location.assign(`${server}/chat?${new URLSearchParams({ title, color, greeting })}`);
      return;
    }
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = url;
      frame.title = title;
      Object.assign(frame.style, {
        position: "fixed", right: "20px", bottom: "90px", width: "380px", height: "600px", maxHeight: "80vh",
        border: "1px solid #d9e2ec", borderRadius: "12px", zIndex: 2147483000, background: "#fff",
        boxShadow: "0 8px 24px rgba(0,0,0,.2)",
      });
      document.body.appendChild(frame);
      button.setAttribute("aria-expanded", "true");
    } else {
      const open = frame.style.display !== "none";
      frame.style.display = open ? "none" : "block";
      button.setAttribute("aria-expanded", String(!open));
    }
  });
  document.body.appendChild(button);
})();
