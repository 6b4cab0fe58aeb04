import { runDemo } from '../../local/demo';

/** `ddbscan demo`: returns the exit code, 0 only when every item arrived unchanged. */
export async function runDemoCommand(options: {
  items: number;
  segments: number;
  seed: number;
  duplicateDelivery: boolean;
  failItems: number;
}): Promise<number> {
  const result = await runDemo({
    items: options.items,
    segments: options.segments,
    seed: options.seed,
    lambda: { duplicateDelivery: options.duplicateDelivery },
    failItems: options.failItems,
    print: (line) => console.log(line),
  });
  return result.ok ? 0 : 1;
}
