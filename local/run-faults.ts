import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { mulberry32 } from './demo-data';
import { randomScenario, runScenario, SCENARIOS, type ScenarioResult } from './fault-scenarios';

// The SDK warns on Node 20 that releases after January 2027 need Node 22; the lockfile pins working versions.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/**
 * `npm run faults`: the larger fault-injection run. Every run prints its scenario and seed;
 * `--seed <n> --runs 1` replays a random mix, `--scenario <name> --seed <n> --runs 1` a named one. Exits 1 if any run broke a promise.
 */
const options = new Command()
  .name('npm run faults --')
  .option('--runs <n>', 'randomized runs (a random mix of every fault kind)', integer, 20)
  .option('--seed <n>', 'seed of the first run; run i uses seed + i', integer, Date.now() % 1_000_000)
  .option(
    '--scenario <name>',
    `one named scenario instead of random mixes: ${SCENARIOS.map((s) => s.name).join(', ')}`,
  )
  .option('--quotas', "enforce AWS's SSM quotas (3 writes, 40 reads a second) on 6 segments and 3 chains")
  .option('--out <file>', 'also write the results as JSON')
  .parse()
  .opts<{ runs: number; seed: number; scenario?: string; quotas?: boolean; out?: string }>();

function integer(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0)
    throw new InvalidArgumentError(`expected a whole number, received "${text}".`);
  return value;
}

async function main(): Promise<number> {
  const named =
    options.scenario === undefined ? undefined : SCENARIOS.find((s) => s.name === options.scenario);
  if (options.scenario !== undefined && named === undefined) {
    console.error(
      `Unknown scenario "${options.scenario}": expected one of ${SCENARIOS.map((s) => s.name).join(', ')}.`,
    );
    return 2;
  }
  const results: ScenarioResult[] = [];
  for (let i = 0; i < options.runs; i++) {
    const seed = options.seed + i;
    const scenario = named ?? randomScenario(mulberry32(seed * 7919 + 1));
    const result = await runScenario(scenario, seed, undefined, { quotas: options.quotas === true });
    results.push(result);
    const d = result.delivery;
    console.log(
      `${result.ok ? 'ok  ' : 'FAIL'} run ${i + 1}/${options.runs} seed ${seed} ${scenario.name} (${scenario.description}): ` +
        `${d?.distinctItems ?? 0}/${d?.itemsInTable ?? 0} items, ${d?.missing ?? '?'} lost, ${d?.duplicates ?? '?'} duplicates ` +
        `(bound ${result.duplicateBound}), ${result.disruptions} disruptions, ${result.seconds.toFixed(1)} s` +
        (result.ok
          ? ''
          : `\n     ${result.problems.join('\n     ')}\n     replay: npm run faults --${named ? ` --scenario ${named.name}` : ''} --seed ${seed} --runs 1`),
    );
  }
  const failed = results.filter((r) => !r.ok);
  const lost = results.reduce((sum, r) => sum + (r.delivery?.missing ?? 0), 0);
  const duplicates = results.reduce((sum, r) => sum + (r.delivery?.duplicates ?? 0), 0);
  console.log(
    `\n${results.length - failed.length} passed, ${failed.length} failed; ${lost} items lost in all; ${duplicates} duplicates in all`,
  );
  if (options.out) writeFileSync(options.out, JSON.stringify(results, null, 2));
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
