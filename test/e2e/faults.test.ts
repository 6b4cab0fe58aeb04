import { describe, expect, it } from 'vitest';
import { runScenario, SCENARIOS } from '../../local/fault-scenarios';

/**
 * The fault-injection suite (issue 4): each scenario runs a full scan of several segments with
 * the scanner in killable containers, and checks every promise. A failure names its seed;
 * replay it with `npm run faults -- --scenario <name> --seed <seed> --runs 1`.
 */
const seed = Number(process.env.FAULT_SEED ?? 20261121);

describe('delivery under faults', () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))(
    'keeps every promise: %s',
    async (_, scenario) => {
      const result = await runScenario(scenario, seed);
      expect(result.problems, `${scenario.description} (seed ${seed})`).toEqual([]);
      expect(result.delivery).toMatchObject({ missing: 0, altered: 0 });
      expect(result.status?.state).toBe('COMPLETED');
    },
    120_000,
  );
});
