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

export default defineConfig({
  plugins: [noCdnFonts],
  esbuild: { jsx: "automatic" },
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
