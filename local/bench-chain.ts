import { createScannerHandler } from '../lambda/handlers/scanner';

/**
 * The benchmark's memory probe: runs one invocation of a segment chain in this process (its
 * environment points at the local stack) and prints the process's peak RSS, so the figure is
 * the chain's alone, not the emulators'.
 */
async function main(): Promise<void> {
  const event: unknown = JSON.parse(process.env.BENCH_EVENT ?? '{}');
  const handler = createScannerHandler();
  const outcome = await handler(event, {
    functionName: 'bench-chain',
    getRemainingTimeInMillis: () => 900_000,
  });
  // resourceUsage().maxRSS is in kilobytes.
  console.log(JSON.stringify({ outcome, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
