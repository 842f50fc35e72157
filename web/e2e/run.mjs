#!/usr/bin/env node
// Browser tests against a real Takhin: starts `takhin serve` on free loopback
// ports with a temporary data directory, waits until /api/health/ready says
// the broker accepts connections, runs the specs (Vitest driving Debian's
// chromium through playwright-core), then stops the broker and removes its
// data. Exits with the specs' status.
//
//   TAKHIN_BIN   the binary (default ../target/debug/takhin)
//   CHROMIUM     the browser (default /usr/bin/chromium)
//   Extra arguments go to vitest (e.g. a spec file name).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const takhinBin = process.env.TAKHIN_BIN ?? path.resolve(webDir, '../target/debug/takhin');
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(url, broker) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (broker.exitCode !== null) throw new Error(`takhin exited early with ${broker.exitCode}`);
    try {
      const response = await fetch(`${url}/api/health/ready`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`takhin was not ready at ${url} within ${READY_TIMEOUT_MS} ms`);
}

function stop(child) {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

if (!existsSync(takhinBin)) {
  console.error(
    `no takhin binary at ${takhinBin}: run \`cargo build -p takhin\` (or set TAKHIN_BIN)`,
  );
  process.exit(2);
}
if (!existsSync(path.join(webDir, 'dist/index.html'))) {
  console.error('web/dist is not built: run `make web` first');
  process.exit(2);
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'takhin-e2e-'));
const [kafkaPort, httpPort] = [await freePort(), await freePort()];
const httpUrl = `http://127.0.0.1:${httpPort}`;
const kafkaAddr = `127.0.0.1:${kafkaPort}`;
const broker = spawn(
  takhinBin,
  [
    'serve',
    '--data-dir',
    dataDir,
    '--kafka-addr',
    kafkaAddr,
    '--advertised-kafka-addr',
    kafkaAddr,
    '--http-addr',
    `127.0.0.1:${httpPort}`,
  ],
  {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      TAKHIN_LOG_LEVEL: process.env.TAKHIN_LOG_LEVEL ?? 'warn',
      // A group's first member joins at once instead of waiting 3 s for more.
      TAKHIN_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    },
  },
);

let status = 1;
try {
  await waitReady(httpUrl, broker);
  console.log(`takhin ready: http ${httpUrl}, kafka ${kafkaAddr}, data ${dataDir}`);
  const vitest = spawn(
    process.execPath,
    [
      path.join(webDir, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--config',
      'e2e/vitest.config.ts',
      ...process.argv.slice(2),
    ],
    {
      cwd: webDir,
      stdio: 'inherit',
      env: { ...process.env, TAKHIN_URL: httpUrl, TAKHIN_KAFKA: kafkaAddr },
    },
  );
  status = await new Promise((resolve) => vitest.on('exit', (code) => resolve(code ?? 1)));
} catch (error) {
  console.error(String(error));
} finally {
  await stop(broker);
  await rm(dataDir, { recursive: true, force: true });
}
process.exit(status);
