/**
 * A lockfile for a fresh app that depends on the packed tarball and the peer dependencies, made
 * from the project's own lockfile: `npm ci --prefer-offline` then installs every package from npm's
 * cache (filled by the project's own `npm ci`), with the versions the project was tested with.
 */

interface LockEntry {
  readonly version?: string;
  readonly resolved?: string;
  readonly integrity?: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly optionalDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>;
  readonly [field: string]: unknown;
}

export interface Lockfile {
  readonly lockfileVersion: number;
  readonly packages: Readonly<Record<string, LockEntry>>;
  readonly [field: string]: unknown;
}

export interface PackedPackage {
  readonly name: string;
  readonly version: string;
  /** The tarball's path relative to the app, e.g. `../dynamodb-kinesis-scanner-0.1.0.tgz`. */
  readonly tarball: string;
  readonly integrity: string;
  /** The package.json that was packed. */
  readonly manifest: LockEntry;
}

/**
 * The app's lockfile: its root depends on the package and on `peers` (at the versions of the
 * project's lockfile); every package reachable from there keeps its place and version.
 */
export function appLockfile(project: Lockfile, pkg: PackedPackage, peers: readonly string[]): Lockfile {
  const packages: Record<string, LockEntry> = {};
  const rootDependencies: Record<string, string> = { [pkg.name]: `file:${pkg.tarball}` };
  for (const peer of peers) {
    const version = project.packages[`node_modules/${peer}`]?.version;
    if (version === undefined) throw new Error(`The project's lockfile has no ${peer}.`);
    rootDependencies[peer] = version;
  }
  const manifest = pkg.manifest;
  packages[`node_modules/${pkg.name}`] = {
    version: pkg.version,
    resolved: `file:${pkg.tarball}`,
    integrity: pkg.integrity,
    ...pick(manifest, [
      'license',
      'dependencies',
      'optionalDependencies',
      'peerDependencies',
      'bin',
      'engines',
    ]),
  };
  const pending: { from: string; name: string; optional: boolean }[] = [
    ...peers.map((name) => ({ from: '', name, optional: false })),
    ...edges(manifest, `node_modules/${pkg.name}`),
  ];
  const optionalOnly = new Map<string, boolean>();
  for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
    const location = resolve(project, next.from, next.name);
    if (location === undefined) {
      if (next.optional) continue;
      throw new Error(`The project's lockfile cannot resolve ${next.name} from ${next.from || 'the root'}.`);
    }
    const wasOptional = optionalOnly.get(location);
    const optional = next.optional && (wasOptional ?? true);
    if (wasOptional !== undefined && wasOptional === optional) continue;
    optionalOnly.set(location, optional);
    const entry = project.packages[location] as LockEntry;
    pending.push(...edges(entry, location).map((edge) => ({ ...edge, optional: optional || edge.optional })));
  }
  for (const [location, optional] of [...optionalOnly].sort(([a], [b]) => a.localeCompare(b))) {
    const { dev, devOptional, optional: _, peer, ...entry } = project.packages[location] as LockEntry;
    packages[location] = optional ? { ...entry, optional: true } : entry;
  }
  return {
    name: 'app',
    version: '1.0.0',
    lockfileVersion: project.lockfileVersion,
    requires: true,
    packages: { '': { name: 'app', version: '1.0.0', dependencies: rootDependencies }, ...packages },
  };
}

/** The app's package.json, matching its lockfile's root. */
export function appManifest(lockfile: Lockfile): Record<string, unknown> {
  const root = lockfile.packages[''] as LockEntry;
  return { name: 'app', version: '1.0.0', private: true, dependencies: root.dependencies };
}

/** The dependencies a package needs installed: its own and optional ones, and its required peers. */
function edges(entry: LockEntry, from: string): { from: string; name: string; optional: boolean }[] {
  const peers = Object.keys(entry.peerDependencies ?? {}).filter(
    (name) => entry.peerDependenciesMeta?.[name]?.optional !== true,
  );
  return [
    ...Object.keys(entry.dependencies ?? {}).map((name) => ({ from, name, optional: false })),
    ...peers.map((name) => ({ from, name, optional: false })),
    ...Object.keys(entry.optionalDependencies ?? {}).map((name) => ({ from, name, optional: true })),
  ];
}

/** Node's resolution over lockfile paths: `<from>/node_modules/<name>`, then each parent's. */
function resolve(lock: Lockfile, from: string, name: string): string | undefined {
  let base = from;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (lock.packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    const cut = base.lastIndexOf('/node_modules/');
    base = cut === -1 ? '' : base.slice(0, cut);
  }
}

function pick(entry: LockEntry, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((field) => entry[field] !== undefined).map((f) => [f, entry[f]]));
}
