// A second `takhin serve` whose data is damaged on purpose, for
// specs/storage-health.spec.ts: the storage-health views need damage a real
// broker found, and that takes two starts with the files changed in between.
//
// 1. Start takhin on an empty data directory; create `ledger` (2 partitions,
//    1 KiB segments) and produce one record per batch through the console API,
//    so partition 0 has several closed segments.
// 2. Stop it (SIGTERM: a clean shutdown).
// 3. In partition 0, flip a bit inside the first batch of the second segment
//    and delete that segment's offset index: the next start verifies the
//    segment, finds the CRC mismatch and moves the batch to the quarantine
//    directory. Flip a bit in the third segment too, index kept: a clean start
//    does not look there, the scrubber does, and leaves the bytes in place.
// 4. Start takhin again; the caller stops it and removes the directory.
//
// Everything is bounded: a few KiB of data, READY_TIMEOUT_MS per start.

import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

export const DAMAGED_TOPIC = 'ledger';
const SEGMENT_BYTES = 1024;
const RECORDS = 24;
/** Past the 61-byte batch header: only the CRC can tell. */
const FLIPPED_BYTE = 80;

async function post(httpUrl, apiPath, body) {
  const response = await fetch(`${httpUrl}/api/v1/clusters/local${apiPath}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${apiPath}: ${response.status} ${await response.text()}`);
}

async function seed(httpUrl) {
  await post(httpUrl, '/topics', {
    name: DAMAGED_TOPIC,
    partitions: 2,
    replication_factor: 1,
    configs: { 'segment.bytes': String(SEGMENT_BYTES) },
  });
  const messages = `${DAMAGED_TOPIC}/messages`;
  for (let n = 0; n < RECORDS; n += 1) {
    await post(httpUrl, `/topics/${messages}`, {
      partition: 0,
      key: `entry-${n}`,
      value: JSON.stringify({ entry: n, amount_cents: 100 + n, memo: 'x'.repeat(160) }),
    });
  }
  await post(httpUrl, `/topics/${messages}`, { partition: 1, key: 'entry-0', value: '{}' });
}

/** Flips a bit inside the first batch's records; a real byte, so the file size stays. */
async function flipBit(file) {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, FLIPPED_BYTE);
    byte[0] ^= 0x20;
    await handle.write(byte, 0, 1, FLIPPED_BYTE);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function damage(dataDir) {
  const partitionDir = path.join(dataDir, `${DAMAGED_TOPIC}-0`);
  const logs = (await readdir(partitionDir)).filter((name) => name.endsWith('.log')).sort();
  if (logs.length < 4) throw new Error(`expected 4+ segments in ${partitionDir}, got ${logs}`);
  const [, recovered, scrubbed] = logs;
  await flipBit(path.join(partitionDir, recovered));
  await rm(path.join(partitionDir, recovered.replace(/\.log$/, '.index')));
  await flipBit(path.join(partitionDir, scrubbed));
}

/**
 * Seeds and damages `dataDir` with `startTakhin(dataDir)` / `stop(child)`,
 * then answers the second start (the caller stops it).
 */
export async function startDamagedCluster(dataDir, startTakhin, stop) {
  const first = await startTakhin(dataDir);
  try {
    await seed(first.httpUrl);
  } finally {
    await stop(first.child);
  }
  await damage(dataDir);
  return startTakhin(dataDir);
}
