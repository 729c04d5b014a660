// The chat page (full page on phones and in WeChat's browser, or inside the launcher's frame):
// Rasa's socket.io channel on this server's origin, history restored from the server, the
// specialist's state, 有帮助/没帮助 feedback. Text is rendered as text, never as markup.
import { createRoot } from "react-dom/client";
import { useEffect, useRef, useState } from "react";
import Chat, { Bubble, Typing, useMessages } from "@chatui/core";
import "@chatui/core/dist/index.css";
import { io } from "socket.io-client";
import "./chat.css";

const params = new URLSearchParams(window.location.search);
const TITLE = params.get("title") || "人才服务助手";
const COLOR = /^#[0-9a-fA-F]{3,8}$/.test(params.get("color") || "") ? params.get("color") : "#1f6feb";
const GREETING = params.get("greeting") || "您好！我是人才服务助手，请问有什么可以帮您？";
const SESSION_KEY = "talent-assistant-session";

function sessionId() {
  let id = window.localStorage.getItem(SESSION_KEY);
  if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    window.localStorage.setItem(SESSION_KEY, id);
  }
  return id;
}

// Links in answers become anchors; everything else stays text (React escapes it).
function Linkified({ text }) {
  const parts = String(text).split(/(https?:\/\/[^\s，。；）)]+)/g);
  return parts.map((part, i) =>
    /^https?:\/\//.test(part) ? (
      <a key={i} href={part} target="_blank" rel="noopener noreferrer">{part}</a>
    ) : (
      <span key={i}>{part}</span>
    ),
  );
}

function Feedback({ answer, session }) {
  const [sent, setSent] = useState(null);
  const send = async (helpful) => {
    setSent(helpful);
    await fetch("/api/chat/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ session_id: session, answer, helpful }),
    }).catch(() => null);
  };
  if (sent !== null) return <div className="feedback done">感谢您的反馈</div>;
  return (
    <div className="feedback">
      <button type="button" onClick={() => send(true)} aria-label="这个回答有帮助">有帮助</button>
      <button type="button" onClick={() => send(false)} aria-label="这个回答没帮助">没帮助</button>
    </div>
  );
}

function App() {
  const session = useRef(sessionId()).current;
  const { messages, appendMsg, deleteMsg, resetList } = useMessages([]);
  const [quickReplies, setQuickReplies] = useState([]);
  const [handoff, setHandoff] = useState({ handoff: "none", specialist: null });
  const socket = useRef(null);
  const typing = useRef(null);

  const stopTyping = () => {
    if (typing.current) deleteMsg(typing.current);
    typing.current = null;
  };

  const showBot = (data, role = "bot") => {
    stopTyping();
    if (data.text) {
      appendMsg({ type: "text", content: { text: data.text, role }, position: "left" });
    }
    if (data.image) appendMsg({ type: "image", content: { picUrl: data.image }, position: "left" });
    const buttons = data.quick_replies || data.buttons || [];
    setQuickReplies(buttons.map((b) => ({ name: b.title, code: b.payload })));
  };

  useEffect(() => {
    document.documentElement.style.setProperty("--brand-1", COLOR);
    (async () => {
      const history = await fetch(`/api/chat/history?session_id=${session}`).then((r) => r.json()).catch(() => null);
      const lines = (history && history.messages) || [];
      if (lines.length === 0) {
        resetList([{ type: "text", content: { text: GREETING, role: "bot" }, position: "left" }]);
      } else {
        resetList(lines.map((l) => ({
          type: "text",
          content: { text: l.text, role: l.role },
          position: l.role === "user" ? "right" : "left",
        })));
      }
    })();
    const s = io({ path: "/socket.io", transports: ["websocket", "polling"] });
    socket.current = s;
    s.on("connect", () => s.emit("session_request", { session_id: session }));
    s.on("bot_uttered", (data) => showBot(data, handoffRef.current.handoff === "active" ? "staff" : "bot"));
    return () => s.close();
  }, []);

  const handoffRef = useRef(handoff);
  handoffRef.current = handoff;
  useEffect(() => {
    const poll = async () => {
      const state = await fetch(`/api/chat/state?session_id=${session}`).then((r) => r.json()).catch(() => null);
      if (state) setHandoff(state);
    };
    poll();
    const timer = setInterval(poll, 3000);
    return () => clearInterval(timer);
  }, []);

  const send = (text, shown) => {
    if (!text || !text.trim()) return;
    appendMsg({ type: "text", content: { text: shown || text, role: "user" }, position: "right" });
    setQuickReplies([]);
    socket.current.emit("user_uttered", { message: text, session_id: session });
    if (handoffRef.current.handoff === "none") {
      stopTyping();
      typing.current = appendMsg({ type: "typing", position: "left" });
    }
  };

  const renderMessageContent = (msg) => {
    if (msg.type === "typing") return <Typing text="正在输入" />;
    if (msg.type === "image") return <Bubble type="image"><img src={msg.content.picUrl} alt="图片" /></Bubble>;
    const { text, role } = msg.content;
    return (
      <div className={`msg ${role}`}>
        {role === "staff" && <div className="who">人工客服</div>}
        <Bubble><div className="text"><Linkified text={text} /></div></Bubble>
        {role === "bot" && text.includes("依据") && <Feedback answer={text} session={session} />}
      </div>
    );
  };

  const banner =
    handoff.handoff === "active"
      ? `人工客服 ${handoff.specialist || ""} 为您服务`
      : handoff.handoff === "waiting"
        ? "正在为您转接人工客服，请稍候"
        : null;

  return (
    <div className="app">
      {banner && <div className="banner" role="status">{banner}</div>}
      <Chat
        navbar={{ title: TITLE }}
        messages={messages}
        renderMessageContent={renderMessageContent}
        quickReplies={quickReplies}
        onQuickReplyClick={(item) => send(item.code, item.name)}
        onSend={(type, value) => type === "text" && send(value)}
        placeholder="请输入您的问题"
        locale="zh-CN"
      />
    </div>
  );
}

createRoot(document.getElementById("root")).render(<App />);
