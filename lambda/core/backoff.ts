/**
 * Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2^attempt)).
 * `random` is injectable so tests are deterministic.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * Math.min(capMs, baseMs * 2 ** attempt));
}
