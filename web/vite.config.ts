import { defineConfig } from "vite";

// The bundle goes where horizon serve embeds it from; served under /ui/.
export default defineConfig({
  base: "/ui/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "../crates/horizon-server/ui",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 300,
  },
});
