#!/usr/bin/env node
// Browser tests against a real Takhin: starts `takhin serve` on free loopback
// ports with a temporary data directory, waits until /api/health/ready says
// the broker accepts connections, starts a second one whose segments are
// damaged on purpose (support/damaged-cluster.mjs, for the storage-health
// spec), runs the specs (Vitest driving Debian's chromium through
// playwright-core), then stops the brokers and removes their data. Exits
// with the specs' status.
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
import { startDamagedCluster } from './support/damaged-cluster.mjs';

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

/**
 * Starts `takhin serve` on `dataDir` with free loopback ports; answers once
 * /api/health/ready says the broker accepts connections.
 */
async function startTakhin(dataDir) {
  const [kafkaPort, httpPort] = [await freePort(), await freePort()];
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const kafkaAddr = `127.0.0.1:${kafkaPort}`;
  const child = spawn(
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
  try {
    await waitReady(httpUrl, child);
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { child, httpUrl, kafkaAddr };
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'takhin-e2e-'));
const damagedDataDir = await mkdtemp(path.join(tmpdir(), 'takhin-e2e-damaged-'));
const running = [];

let status = 1;
try {
  const broker = await startTakhin(dataDir);
  running.push(broker.child);
  console.log(`takhin ready: http ${broker.httpUrl}, kafka ${broker.kafkaAddr}, data ${dataDir}`);
  // A second cluster with damaged segments (support/damaged-cluster.mjs), so
  // the first one stays healthy for the other specs and their screenshots.
  const damaged = await startDamagedCluster(damagedDataDir, startTakhin, stop);
  running.push(damaged.child);
  console.log(`damaged takhin ready: http ${damaged.httpUrl}, data ${damagedDataDir}`);
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
      env: {
        ...process.env,
        TAKHIN_URL: broker.httpUrl,
        TAKHIN_KAFKA: broker.kafkaAddr,
        TAKHIN_DAMAGED_URL: damaged.httpUrl,
      },
    },
  );
  status = await new Promise((resolve) => vitest.on('exit', (code) => resolve(code ?? 1)));
} catch (error) {
  console.error(String(error));
} finally {
  await Promise.all(running.map(stop));
  await rm(dataDir, { recursive: true, force: true });
  await rm(damagedDataDir, { recursive: true, force: true });
}
process.exit(status);
