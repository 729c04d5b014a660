// Builds the widget into the web server's static files: chat.js (the chat page, full page or in
// the launcher's frame) and loader.js (the one script a city's website includes).
import { resolve } from "node:path";
import { defineConfig } from "vite";

// ChatUI's stylesheet loads its fonts from Alipay's CDN; nothing may come from a CDN at run
// time, so those @font-face rules are dropped (the system's Chinese fonts are used).
const noCdnFonts = {
  name: "no-cdn-fonts",
  enforce: "post",
  generateBundle(_, bundle) {
    for (const file of Object.values(bundle)) {
      if (file.type === "asset" && file.fileName.endsWith(".css")) {
        const css = typeof file.source === "string" ? file.source : new TextDecoder().decode(file.source);
        file.source = css.replace(/@font-face\s*{[^}]*https?:[^}]*}/g, "");
      }
    }
  },
};

// ChatUI marks every message as an assertive alert, so a screen reader would read out the whole
// restored history and the citizen's own messages; the chat announces new messages itself
// through one polite log region instead. Fails the build if ChatUI's code changes.
const ALERT = /role: "alert",\s*"aria-live": "assertive",\s*"aria-atomic": "false"/;
const quietMessages = {
  name: "quiet-messages",
  transform(code, id) {
    if (!/@chatui[\\/]core[\\/]es[\\/]components[\\/]Message[\\/]Message\.js$/.test(id)) return null;
    if (!ALERT.test(code)) throw new Error("ChatUI's Message no longer has the alert role this build removes");
    return { code: code.replace(ALERT, ""), map: null };
  },
};

export default defineConfig({
  plugins: [noCdnFonts, quietMessages],
  esbuild: { jsx: "automatic" },
  // ChatUI's ES modules (tree-shaken) rather than the whole UMD bundle its "browser" field
  // names; other packages keep their browser builds (socket.io's differ from Node's).
  resolve: {
    alias: [{ find: /^@chatui\/core$/, replacement: resolve(__dirname, "node_modules/@chatui/core/es/index.js") }],
  },
  build: {
    outDir: resolve(__dirname, "../../bot/web/static/widget"),
    emptyOutDir: true,
    cssCodeSplit: false,
    rollupOptions: {
      input: { chat: resolve(__dirname, "src/chat.jsx"), loader: resolve(__dirname, "src/loader.js") },
      output: { entryFileNames: "[name].js", assetFileNames: "[name][extname]", chunkFileNames: "[name].js" },
    },
  },
});
