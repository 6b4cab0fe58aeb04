import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const NAME = 'dynamodb-kinesis-scanner';

/**
 * This package's version, read from its package.json: the directory above `lib/` in the
 * repository, two above `dist/lib/` in the installed package.
 */
export function packageVersion(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === NAME && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // No package.json here: look further up.
    }
    if (dirname(dir) === dir) throw new Error(`The package.json of ${NAME} was not found above ${from}.`);
  }
}
