#!/usr/bin/env node
// Writes `name.gz` beside each compressible file of dist/static (the hashed
// assets). crates/takhin/src/web.rs sends the .gz to clients that accept gzip,
// so the binary serves compressed bytes without compressing per request.

import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, gzipSync } from 'node:zlib';

const staticDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/static');
const COMPRESSIBLE = new Set(['.js', '.css', '.svg', '.json', '.ttf', '.map', '.txt']);
/** Below this, gzip's header and the extra request bytes are not worth it. */
const SIZE_MIN_BYTES = 1024;

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else yield full;
  }
}

let raw = 0;
let compressed = 0;
for await (const file of files(staticDir)) {
  if (!COMPRESSIBLE.has(path.extname(file))) continue;
  if ((await stat(file)).size < SIZE_MIN_BYTES) continue;
  const content = await readFile(file);
  const gz = gzipSync(content, { level: constants.Z_BEST_COMPRESSION });
  if (gz.length >= content.length) continue;
  await writeFile(`${file}.gz`, gz);
  raw += content.length;
  compressed += gz.length;
}
console.log(
  `gzip: ${(raw / 1024).toFixed(0)} KiB -> ${(compressed / 1024).toFixed(0)} KiB in dist/static`,
);
