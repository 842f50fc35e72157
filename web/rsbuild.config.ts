import { defineConfig } from '@rsbuild/core';
import { pluginReact } from '@rsbuild/plugin-react';

// `npm run dev` serves the UI with hot reload and forwards /api to a running
// `takhin serve` (TAKHIN_HTTP, default http://localhost:8080).
const apiTarget = process.env.TAKHIN_HTTP ?? 'http://localhost:8080';

export default defineConfig({
  plugins: [pluginReact()],
  source: {
    entry: { index: './src/main.tsx' },
  },
  html: {
    template: './index.html',
    title: 'Takhin Console',
  },
  output: {
    // Hashed files live under static/: the Rust side caches them forever
    // (crates/takhin/src/web.rs) and index.html not at all.
    distPath: { root: 'dist' },
    filenameHash: true,
    legalComments: 'none',
    cleanDistPath: true,
  },
  performance: {
    // Fail loudly in review rather than drift: the initial route must stay small.
    printFileSize: { total: true, detail: true, compressed: true },
  },
  server: {
    proxy: { '/api': { target: apiTarget } },
  },
});
