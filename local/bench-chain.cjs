// The benchmark's memory probe: loads the scanner bundle (built as `cdk deploy` builds it) and
// runs one invocation of a segment's chain in this process, whose environment points at the
// local stack; then prints the process's peak RSS, so the figure is the chain's alone, not the
// emulators' or a TypeScript loader's.
const { readFileSync } = require('node:fs');

const { handler } = require(process.env.BENCH_BUNDLE);

/**
 * Peak RSS in MB. Linux's VmHWM belongs to this program alone; getrusage's maxRSS also counts
 * the parent's memory that the forked child held before it exec'd Node.
 */
function peakRssMb() {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    if (kb !== undefined) return Math.round(Number(kb) / 1024);
  } catch {
    // Not Linux: fall back to getrusage.
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}

handler(JSON.parse(process.env.BENCH_EVENT), {
  functionName: 'bench-chain',
  getRemainingTimeInMillis: () => 900_000,
}).then(
  (outcome) => {
    console.log(JSON.stringify({ outcome, peakRssMb: peakRssMb() }));
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);
