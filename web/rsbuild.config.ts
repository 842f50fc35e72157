import { createRequire } from 'node:module';
import path from 'node:path';
import { defineConfig } from '@rsbuild/core';
import { pluginReact } from '@rsbuild/plugin-react';

// `npm run dev` serves the UI with hot reload and forwards /api to a running
// `takhin serve` (TAKHIN_HTTP, default http://localhost:8080).
const apiTarget = process.env.TAKHIN_HTTP ?? 'http://localhost:8080';

// `/api/docs` (crates/takhin-console/src/api/docs.rs) loads Swagger UI from
// these two files of the `swagger-ui-dist` package, served from the binary
// like the rest of dist/static (and gzipped with it by scripts/compress-dist.mjs):
// consoles often run where no CDN is reachable.
const swaggerUiDir = path.dirname(
  createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'),
);
const SWAGGER_UI_FILES = ['swagger-ui-bundle.js', 'swagger-ui.css'];

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
    copy: SWAGGER_UI_FILES.map((file) => ({
      from: path.join(swaggerUiDir, file),
      to: `static/swagger-ui/${file}`,
      // Copied as published: the minimizers must not process them a second time.
      info: { minimized: true },
    })),
  },
  performance: {
    // Fail loudly in review rather than drift: the initial route must stay small.
    printFileSize: { total: true, detail: true, compressed: true },
  },
  server: {
    proxy: { '/api': { target: apiTarget } },
  },
});
