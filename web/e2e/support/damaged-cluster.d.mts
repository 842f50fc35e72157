// Types of damaged-cluster.mjs, which run.mjs (plain Node) imports as is.
import type { ChildProcess } from 'node:child_process';

export const DAMAGED_TOPIC: string;

export interface RunningTakhin {
  child: ChildProcess;
  httpUrl: string;
  kafkaAddr: string;
}

export function startDamagedCluster(
  dataDir: string,
  startTakhin: (dataDir: string) => Promise<RunningTakhin>,
  stop: (child: ChildProcess) => Promise<void>,
): Promise<RunningTakhin>;
