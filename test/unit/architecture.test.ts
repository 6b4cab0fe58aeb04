import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const sources = (dir: string) =>
  readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: join(dir, f), text: readFileSync(join(root, dir, f), 'utf8') }));
const imports = (text: string) => [...text.matchAll(/from '([^']+)'/g)].map((m) => m[1]);

describe('dependency direction', () => {
  it('keeps the core free of the AWS SDK and of adapters', () => {
    for (const { file, text } of sources('lambda/core')) {
      for (const target of imports(text)) {
        expect(target, file).not.toMatch(/^@aws-sdk|^@smithy|adapters|handlers/);
      }
    }
  });

  it('lets lib/ import only the contract from the runtime side', () => {
    for (const { file, text } of sources('lib')) {
      for (const target of imports(text).filter((t) => t?.includes('lambda/'))) {
        expect(target, file).toBe('../lambda/contract');
      }
    }
  });

  it('keeps the contract free of imports', () => {
    expect(imports(readFileSync(join(root, 'lambda', 'contract.ts'), 'utf8'))).toEqual([]);
  });
});
