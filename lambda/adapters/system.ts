import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Clock, IdSource } from '../core/ports';

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => sleep(ms),
};

/** Scan ids sort by start time and stay readable: `20261121T131600Z-4f2a9c`. */
export const randomIds: IdSource = {
  newScanId: (now) =>
    `${new Date(now).toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')}-${randomBytes(3).toString('hex')}`,
  newOwnerToken: () => randomBytes(8).toString('hex'),
};
