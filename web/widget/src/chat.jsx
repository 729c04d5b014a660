// The chat page (full page on phones and in WeChat's browser, or inside the launcher's frame):
// Rasa's socket.io channel on this server's origin, history restored from the server (also
// after a reconnect), the specialist's state, 有帮助/没帮助 feedback. Text is rendered as
// text, never as markup.
import { createRoot } from "react-dom/client";
import { forwardRef, useEffect, useImperativeHandle, useRef, useState } from "react";
import Chat, { Bubble, Typing } from "@chatui/core";
import "@chatui/core/dist/index.css";
import { io } from "socket.io-client";
import "./chat.css";

const params = new URLSearchParams(window.location.search);
const EMBED = params.get("embed") === "1";
const TITLE = (params.get("title") || "人才服务助手").slice(0, 40);
const COLOR = /^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/.test(params.get("color") || "") ? params.get("color") : "#1f6feb";
const GREETING = (params.get("greeting") || "您好！我是人才服务助手，请问有什么可以帮您？").slice(0, 200);
const SESSION_KEY = "talent-assistant-session";
const SECRET_KEY = "talent-assistant-secret";
const VERDICTS_KEY = "talent-assistant-feedback";
const BOT_BACK = "人工服务已结束，智能助手继续为您服务";
const QUEUE_LEFT = "已退出人工排队，智能助手继续为您服务";
// The handoff state is asked for right after each answer (a 转人工 answer opens a ticket),
// every 3 s during a handoff (a specialist may claim without writing yet), else every 15 s.
const STATE_POLL_MS = 3000;
const IDLE_POLL_MS = 15000;
const OFFLINE_NOTICE_MS = 1500;
const TYPING_TIMEOUT_MS = 20000;
// A message received this shortly before a history request may not be stored yet: Rasa
// sends before it saves the conversation.
const UNSAVED_MS = 2000;

// The session is the server's: it issues the id and a secret that proves this browser owns it
// (an id alone proves nothing). Both are kept in localStorage, so a reload keeps the
// conversation; a stored id without a secret (an older widget) starts a new session.
function storedSession() {
  try {
    const id = window.localStorage.getItem(SESSION_KEY);
    const secret = window.localStorage.getItem(SECRET_KEY);
    if (id && secret && /^[A-Za-z0-9_-]{16,64}$/.test(id)) return { id, secret };
  } catch {
    // storage refused (private mode): a new session for this page
  }
  return null;
}

async function newSession() {
  for (let delay = 1000; ; delay = Math.min(delay * 2, 10000)) {
    const body = await fetch("/api/chat/session", { method: "POST" })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    if (body && body.session_id && body.secret) {
      try {
        window.localStorage.setItem(SESSION_KEY, body.session_id);
        window.localStorage.setItem(SECRET_KEY, body.secret);
      } catch {
        // kept for this page only
      }
      return { id: body.session_id, secret: body.secret };
    }
    await new Promise((resolve) => setTimeout(resolve, delay)); // the server is not up yet
  }
}

// The secret goes in a header, never in the address (which proxies and logs keep).
const secretHeaders = (session) => ({ "X-Chat-Secret": session.secret });

// WCAG contrast: white text on the theme colour if it reaches 4.5:1, else dark text.
function luminance(hex) {
  const full = hex.length === 4 ? hex.replace(/[0-9a-f]/gi, (c) => c + c) : hex;
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(full.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const TEXT_ON_COLOR = 1.05 / (luminance(COLOR) + 0.05) >= 4.5 ? "#fff" : "#11192d";

let lastId = 0;
function item(type, content, position = "left") {
  lastId += 1;
  return { _id: `m${lastId}`, type, content, position, hasTime: false, at: Date.now() };
}
const textItem = (role, text, extra = {}) => item("text", { role, text, ...extra }, role === "user" ? "right" : "left");
const systemItem = (text) => item("system", { text, kind: "back" });

// Rasa's socket.io channel sends a text in parts split at blank lines; restored history is
// split the same way, so that a conversation looks the same before and after a reload.
const parts = (text) => String(text || "").trim().split("\n\n").filter((p) => p.trim());

function safeImage(src) {
  if (typeof src !== "string" || !src) return null;
  if (/^data:image\/(png|jpeg|gif|webp);/i.test(src)) return src;
  try {
    const url = new URL(src, window.location.href);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

// One message from the server (history line, or a live bot_uttered part, normalised) as items.
function messageItems({ role, text, buttons, image, alt, specialist, closed }) {
  const out = [];
  const texts = parts(text);
  texts.forEach((t, i) => {
    const last = i === texts.length - 1;
    out.push(textItem(role, t, { specialist, buttons: last && buttons && buttons.length ? buttons : undefined }));
  });
  const src = safeImage(image);
  if (src) out.push(item("image", { role, src, alt: alt || (role === "staff" ? "人工客服发送的图片" : "智能助手发送的图片"), specialist }));
  if (!out.length && buttons && buttons.length) out.push(item("buttons", { role, buttons }));
  if (closed) out.push(systemItem(BOT_BACK));
  return out;
}

function historyItems(lines) {
  return lines.flatMap((l) =>
    l.role === "user"
      ? [textItem("user", l.text)]
      : messageItems({
          role: l.role === "staff" ? "staff" : "bot",
          text: l.text,
          buttons: l.buttons,
          image: l.image,
          alt: l.alt,
          specialist: l.specialist,
          closed: l.handoff === "closed",
        }),
  );
}

function liveMessage(data) {
  const attachment = data.attachment || {};
  return {
    role: data.role === "staff" ? "staff" : "bot",
    text: data.text,
    buttons: (data.quick_replies || data.buttons || []).map((b) => ({ title: b.title, payload: b.payload })),
    image: attachment.type === "image" ? (attachment.payload || {}).src : data.image,
    alt: data.alt,
    specialist: data.specialist,
    closed: data.handoff === "closed",
  };
}

// The quick replies: the buttons of the latest message, unless the citizen or a specialist
// has written since.
function quickRepliesOf(items) {
  for (let i = items.length - 1; i >= 0; i -= 1) {
    const m = items[i];
    if (m.type === "system") continue;
    if (m.content.role === "user") return [];
    if (m.content.buttons) return m.content.buttons;
    if (m.content.role === "staff") return [];
  }
  return [];
}

const sameMessage = (a, b) =>
  a.type === b.type &&
  (a.content.role === "user") === (b.content.role === "user") &&
  a.content.text === b.content.text &&
  a.content.src === b.content.src;

// After a reconnect or reload: the server's history, plus what was shown meanwhile that the
// server does not have yet (each kept once).
function merge(restored, recent) {
  const tail = restored.slice(-30);
  const used = new Set();
  const extra = recent.filter((m) => {
    const i = tail.findIndex((r, j) => !used.has(j) && sameMessage(r, m));
    if (i < 0) return true;
    used.add(i);
    return false;
  });
  return [...restored, ...extra];
}

// Links in answers become anchors; everything else stays text (React escapes it).
function Linkified({ text }) {
  const pieces = String(text).split(/(https?:\/\/[^\s，。；）)]+)/g);
  return pieces.map((piece, i) =>
    /^https?:\/\//.test(piece) ? (
      <a key={i} href={piece} target="_blank" rel="noopener noreferrer">{piece}</a>
    ) : (
      <span key={i}>{piece}</span>
    ),
  );
}

function Feedback({ verdict, onVerdict }) {
  return (
    <div className="feedback" role="group" aria-label="这个回答对您有帮助吗">
      <button type="button" aria-pressed={verdict === true} onClick={() => onVerdict(true)}>有帮助</button>
      <button type="button" aria-pressed={verdict === false} onClick={() => onVerdict(false)}>没帮助</button>
      {verdict !== undefined && <span className="thanks">感谢您的反馈</span>}
    </div>
  );
}

// ChatUI's quick replies scroll sideways behind unlabelled arrow buttons; these wrap, so that
// every option shows at 360 px and each is one Tab stop.
function QuickReplies({ items, onClick }) {
  if (!items.length) return null;
  return (
    <div className="replies" role="group" aria-label="可选回复">
      {items.map((r, i) => (
        <button type="button" className="QuickReply" key={`${i}-${r.payload}`} onClick={() => onClick(r)}>{r.title}</button>
      ))}
    </div>
  );
}

// ChatUI's composer sends on mousedown only; this one is a form: Enter or the button sends,
// Shift+Enter starts a new line, and an Enter that ends a Chinese IME composition does not send.
const Composer = forwardRef(function Composer({ onSend, placeholder, onFocus }, ref) {
  const [text, setText] = useState("");
  const input = useRef(null);
  useImperativeHandle(ref, () => ({ setText, focus: () => input.current && input.current.focus() }));
  const submit = () => {
    if (!text.trim()) return;
    onSend("text", text);
    setText("");
  };
  return (
    <form className="Composer" onSubmit={(e) => { e.preventDefault(); submit(); }}>
      <div className="Composer-inputWrap">
        <textarea
          ref={input}
          className="Input Composer-input"
          rows={1}
          value={text}
          maxLength={1000}
          aria-label="输入您的问题"
          placeholder={placeholder}
          enterKeyHint="send"
          onFocus={onFocus}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing && e.keyCode !== 229) {
              e.preventDefault();
              submit();
            }
          }}
        />
      </div>
      <div className="Composer-actions">
        <button type="submit" className="Btn Btn--primary Composer-sendBtn">发送</button>
      </div>
    </form>
  );
});

function loadVerdicts() {
  try {
    return JSON.parse(window.sessionStorage.getItem(VERDICTS_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function App() {
  const session = useRef(storedSession()); // { id, secret }, null until the server gave one
  const [items, setItemsState] = useState(() => [textItem("bot", GREETING, { greeting: true })]);
  const itemsRef = useRef(items);
  const [typing, setTyping] = useState(false);
  const [handoff, setHandoff] = useState({ handoff: "none", specialist: null });
  const [offline, setOffline] = useState(false);
  const handoffRef = useRef(handoff);
  const [announcements, setAnnouncements] = useState([]);
  const [verdicts, setVerdicts] = useState(loadVerdicts);
  const socket = useRef(null);
  const ready = useRef(false); // connected and in the session's room
  const syncing = useRef(false);
  const backNoted = useRef(false); // the end of the current handoff is already shown
  const typingTimer = useRef(null);
  const composer = useRef(null);

  const setItems = (next) => {
    itemsRef.current = next;
    setItemsState(next);
  };

  // A polite live region (role=log) announces answers and state changes to screen readers.
  const announce = (text) => {
    if (text) setAnnouncements((list) => [...list.slice(-4), { id: `a${Date.now()}${Math.random()}`, text }]);
  };

  const stopTyping = () => {
    clearTimeout(typingTimer.current);
    setTyping(false);
  };

  const applyState = (next) => {
    const prev = handoffRef.current;
    if (prev.handoff === next.handoff && prev.specialist === next.specialist) return;
    handoffRef.current = next;
    setHandoff(next);
    if (next.handoff !== "none") backNoted.current = false;
    if (next.handoff === "active" && next.specialist) announce(`人工客服 ${next.specialist} 为您服务`);
    else if (next.handoff === "waiting" && prev.handoff === "none") announce("正在为您转接人工客服，请稍候");
    else if (next.handoff === "none" && prev.handoff !== "none") {
      // The specialist's closing message normally says so first; a cancel does not.
      const line = prev.handoff === "active" ? BOT_BACK : QUEUE_LEFT;
      setTimeout(() => {
        if (backNoted.current || handoffRef.current.handoff !== "none") return;
        backNoted.current = true;
        setItems([...itemsRef.current, systemItem(line)]);
        announce(line);
      }, 1500);
    }
  };

  const pollState = async () => {
    const current = session.current;
    if (!current) return;
    const state = await fetch(`/api/chat/state?session_id=${current.id}`, { headers: secretHeaders(current) })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    if (state) applyState({ handoff: state.handoff, specialist: state.specialist || null });
  };

  // One poll at a time: ``pollDue`` is when the next one is due (Infinity while one runs, so
  // that an answer arriving meanwhile asks for another right after).
  const pollDue = useRef(0);
  const polling = useRef(false);
  const pollSoon = () => {
    pollDue.current = Math.min(pollDue.current, Date.now() + 100);
  };
  const pollTick = async () => {
    if (polling.current || Date.now() < pollDue.current) return;
    polling.current = true;
    pollDue.current = Infinity;
    try {
      await pollState();
    } finally {
      polling.current = false;
      if (pollDue.current === Infinity) {
        pollDue.current = Date.now() + (handoffRef.current.handoff === "none" ? IDLE_POLL_MS : STATE_POLL_MS);
      }
    }
  };

  // Returns "refused" when the server does not know the session (or its secret).
  const sync = async () => {
    const current = session.current;
    if (syncing.current || !current) return "busy";
    syncing.current = true;
    const started = Date.now();
    try {
      const response = await fetch(`/api/chat/history?session_id=${current.id}`, {
        headers: secretHeaders(current),
      }).catch(() => null);
      if (response && [401, 403, 404].includes(response.status)) return "refused";
      const history = response && response.ok ? await response.json().catch(() => null) : null;
      if (!history) return "failed"; // keep what is shown
      const restored = historyItems(history.messages || []);
      const [greeting, ...shown] = itemsRef.current;
      const recent = shown.filter((m) => m.pending || m.at >= started - UNSAVED_MS);
      const merged = merge(restored, recent);
      setItems([greeting, ...merged]);
      if (merged.length && merged[merged.length - 1].content.role !== "user") stopTyping();
      backNoted.current = backNoted.current || restored.some((m) => m.type === "system");
      return "ok";
    } finally {
      syncing.current = false;
    }
  };

  const flushPending = () => {
    const pending = itemsRef.current.filter((m) => m.pending);
    if (!pending.length) return;
    for (const m of pending) socket.current.emit("user_uttered", { message: m.pending, session_id: session.current.id });
    setItems(itemsRef.current.map((m) => (m.pending ? { ...m, pending: undefined } : m)));
  };

  const receive = (data) => {
    stopTyping();
    const message = liveMessage(data);
    let list = itemsRef.current;
    if (message.closed) {
      // A closing message in several parts: the end-of-service line goes after the last one.
      if (list.length && list[list.length - 1].content.kind === "back") list = list.slice(0, -1);
      backNoted.current = true;
    }
    const news = messageItems(message);
    if (!news.length) return;
    setItems([...list, ...news]);
    if (message.role === "staff" && !message.closed && handoffRef.current.handoff !== "active") {
      applyState({ handoff: "active", specialist: message.specialist || null });
    }
    const prefix = message.role === "staff" ? "人工客服：" : "";
    for (const m of news) {
      if (m.type === "text") announce(prefix + m.content.text);
      else if (m.type === "image") announce(`${prefix}图片：${m.content.alt}`);
      else if (m.type === "system") announce(m.content.text);
    }
    if (message.closed) applyState({ handoff: "none", specialist: null });
    pollSoon();
  };

  useEffect(() => {
    const root = document.documentElement.style;
    root.setProperty("--brand-1", COLOR);
    root.setProperty("--btn-primary-color", TEXT_ON_COLOR);
    let s = null;
    let stopped = false;
    let confirmed = false;
    let offlineTimer = null;
    const connect = () => {
      s = io({ path: "/socket.io", transports: ["websocket", "polling"] });
      socket.current = s;
      s.on("connect", () => s.emit("session_request", { session_id: session.current.id }));
      s.on("session_confirm", async () => {
        // After a reconnect: what was sent while the socket was down (a specialist's
        // messages) comes from the server's history.
        if (confirmed) await sync();
        confirmed = true;
        ready.current = true;
        clearTimeout(offlineTimer);
        setOffline(false);
        flushPending();
        pollSoon();
      });
      s.on("disconnect", (reason) => {
        ready.current = false;
        if (reason === "io server disconnect") s.connect();
        // Shown only if the reconnect takes a moment; short drops pass unnoticed.
        offlineTimer = setTimeout(() => {
          setOffline(true);
          announce("网络连接已断开，正在重新连接");
        }, OFFLINE_NOTICE_MS);
      });
      s.on("bot_uttered", receive);
    };
    // The session first (kept, or a new one from the server), its history, then the socket;
    // what the citizen types meanwhile waits as pending. A kept session the server refuses
    // (its secret no longer valid) is replaced by a new one.
    const start = async () => {
      let fresh = false;
      if (!session.current) {
        session.current = await newSession();
        fresh = true;
      }
      if (!fresh && (await sync()) === "refused") session.current = await newSession();
      if (!stopped) connect();
    };
    start();
    const ticker = setInterval(pollTick, 200);
    return () => {
      stopped = true;
      clearInterval(ticker);
      clearTimeout(offlineTimer);
      if (s) s.close();
    };
  }, []);

  useEffect(() => {
    if (!EMBED) return undefined;
    // In the launcher's frame: Escape closes it (the loader returns focus to its button).
    const onKey = (e) => {
      if (e.key === "Escape") window.parent.postMessage({ type: "talent-assistant:close" }, "*");
    };
    const onMessage = (e) => {
      if (e.source === window.parent && e.data && e.data.type === "talent-assistant:focus") {
        composer.current && composer.current.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    window.addEventListener("message", onMessage);
    window.parent.postMessage({ type: "talent-assistant:ready" }, "*");
    return () => {
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("message", onMessage);
    };
  }, []);

  const send = (text, shown) => {
    if (!text || !text.trim()) return;
    const message = textItem("user", shown || text.trim());
    if (ready.current) socket.current.emit("user_uttered", { message: text.trim(), session_id: session.current.id });
    else message.pending = text.trim(); // sent once the socket is back
    setItems([...itemsRef.current, message]);
    if (handoffRef.current.handoff === "none") {
      setTyping(true);
      clearTimeout(typingTimer.current);
      typingTimer.current = setTimeout(() => setTyping(false), TYPING_TIMEOUT_MS);
    }
  };

  // The whole answer a feedback button is under: the bot's parts since the last other line.
  const answerOf = (id) => {
    const list = itemsRef.current;
    const texts = [];
    for (let i = list.findIndex((m) => m._id === id); i >= 0; i -= 1) {
      const m = list[i];
      if (m.type !== "text" || m.content.role !== "bot" || m.content.greeting) break;
      texts.unshift(m.content.text);
    }
    return texts.join("\n\n");
  };

  const giveVerdict = (id, helpful) => {
    const answer = answerOf(id);
    const next = { ...verdicts, [answer]: helpful };
    setVerdicts(next);
    try {
      window.sessionStorage.setItem(VERDICTS_KEY, JSON.stringify(next));
    } catch {
      // private mode: the verdict is still sent
    }
    announce("感谢您的反馈");
    const current = session.current;
    if (!current) return;
    fetch("/api/chat/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json", ...secretHeaders(current) },
      body: JSON.stringify({ session_id: current.id, answer: answer.slice(0, 4000), helpful }),
    }).catch(() => null);
  };

  const renderMessageContent = (msg) => {
    if (msg.type === "typing") return <Typing text="正在输入" />;
    const { role, text, specialist } = msg.content;
    const list = itemsRef.current;
    const previous = list[list.findIndex((m) => m._id === msg._id) - 1];
    const continues = previous && previous.type !== "system" && previous.content.role === "staff";
    const who = role === "staff" && !continues && <div className="who">人工客服{specialist ? ` ${specialist}` : ""}</div>;
    if (msg.type === "image") {
      return (
        <div className={`msg ${role} image`}>
          {who}
          <Bubble type="image"><img src={msg.content.src} alt={msg.content.alt} /></Bubble>
        </div>
      );
    }
    if (msg.type === "buttons") return null;
    const answer = role === "bot" && !msg.content.greeting && text.includes("依据") ? answerOf(msg._id) : null;
    return (
      <div className={`msg ${role}`}>
        {who}
        <Bubble><div className="text"><Linkified text={text} /></div></Bubble>
        {msg.pending && <div className="pending">网络恢复后发送</div>}
        {answer && <Feedback verdict={verdicts[answer]} onVerdict={(helpful) => giveVerdict(msg._id, helpful)} />}
      </div>
    );
  };

  const banner = offline
    ? "网络连接已断开，正在重新连接…"
    : handoff.handoff === "active"
      ? `人工客服 ${handoff.specialist || ""} 为您服务`
      : handoff.handoff === "waiting"
        ? "正在为您转接人工客服，请稍候"
        : null;
  const bannerKind = offline ? "offline" : handoff.handoff;

  const closeFrame = () => window.parent.postMessage({ type: "talent-assistant:close" }, "*");

  return (
    <main className="app">
      <Chat
        renderNavbar={() => (
          <>
            <header className="Navbar">
              <div className="Navbar-main"><h1 className="Navbar-title">{TITLE}</h1></div>
              {EMBED && (
                <div className="Navbar-right">
                  <button type="button" className="close" aria-label="关闭对话窗口" onClick={closeFrame}>×</button>
                </div>
              )}
            </header>
            {banner && <div className={`banner ${bannerKind}`}>{banner}</div>}
          </>
        )}
        messages={items.filter((m) => m.type !== "buttons")}
        isTyping={typing}
        renderMessageContent={renderMessageContent}
        renderQuickReplies={() => <QuickReplies items={quickRepliesOf(items)} onClick={(r) => send(r.payload, r.title)} />}
        onSend={(type, value) => type === "text" && send(value)}
        placeholder="请输入您的问题"
        composerRef={composer}
        Composer={Composer}
        locale="zh-CN"
      />
      <div className="sr-only" role="log" aria-live="polite" aria-label="新消息">
        {announcements.map((a) => <p key={a.id}>{a.text}</p>)}
      </div>
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
