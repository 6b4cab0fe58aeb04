import {
  DeleteParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  type GetParametersByPathCommandOutput,
  GetParametersCommand,
  PutParameterCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { backoffDelay } from '../core/backoff';
import { FatalScanError, UnreadableParameterError } from '../core/errors';
import {
  type CheckpointStore,
  type Claim,
  type ClaimKind,
  type Clock,
  type NumberedClaim,
  PEERS_PER_READ,
  type SegmentListing,
  type UnreadableParameter,
} from '../core/ports';
import {
  decodeScan,
  decodeSegment,
  encodeScan,
  encodeSegment,
  type ScanRecord,
  type SegmentCheckpoint,
  withStopRequest,
} from '../core/scan-state';
import { ssmJson } from '../core/ssm-value';
import { errorName, translateAwsError } from './aws-errors';
import { systemClock } from './system';

/** SSM: DeleteParameters and GetParameters take at most 10 names. */
const DELETE_BATCH = 10;
const GET_BATCH = 10;
/** One DeleteParameters call per half second: at most 2 of the account's ~3 writes a second. */
const DELETE_PAUSE_MS = 500;
/** Backoff between attempts of a throttled call: full jitter, from 0.2 s up to 5 s. */
const THROTTLE_BASE_MS = 200;
const THROTTLE_CAP_MS = 5_000;
/** How long a throttled call is retried when the caller sets no limit. */
const DEFAULT_THROTTLE_RETRY_MS = 30_000;

export interface SsmCheckpointStoreOptions {
  /** @default the system clock */
  readonly clock?: Clock;
  /**
   * Until when (epoch ms) a throttled call is retried, asked at the first throttling of a call.
   * SSM's throughput (about 3 PutParameter and 40 Get* calls a second) is shared by the whole
   * account, so throttling is expected and waited out in place, never a failed invocation while
   * time remains. @default 30 s from the first throttling
   */
  readonly retryThrottlingUntil?: () => number;
}

/**
 * Keeps the scan in `<root>/scan` and each chain's checkpoint in `<root>/segment/<n>`
 * (n: the chain's first segment), so every chain writes only its own parameter and a scan has
 * one parameter per chain, whatever its number of segments. Values are written with
 * Intelligent-Tiering: Standard up to 4,096 characters, Advanced (up to 8,192) only when a large
 * key needs it. Throttled calls are retried with backoff (see `retryThrottlingUntil`).
 *
 * Every call is safe for the SDK to resend: reads and deletes are idempotent, an overwrite
 * writes the same value again, and a create-if-absent that is resent after its first attempt
 * succeeded finds its own claim and reports it won (see `createClaim`).
 */
export class SsmCheckpointStore implements CheckpointStore {
  private readonly clock: Clock;
  private readonly retryUntil: () => number;

  constructor(
    private readonly client: SSMClient,
    private readonly rootName: string,
    options: SsmCheckpointStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.retryUntil = options.retryThrottlingUntil ?? (() => this.clock.now() + DEFAULT_THROTTLE_RETRY_MS);
  }

  segmentName(segment: number): string {
    return `${this.rootName}/segment/${segment}`;
  }

  /**
   * `<root>/scan`: the scan record. The root parameter itself belongs to the stack, and
   * CloudFormation may put its template value back at any update, so the scanner never writes
   * it; it only reads a scan that an earlier version recorded there.
   */
  scanName(): string {
    return `${this.rootName}/scan`;
  }

  /** `<root>/stop`: the id of the scan a stop was requested for. */
  stopName(): string {
    return `${this.rootName}/stop`;
  }

  async loadScan(): Promise<ScanRecord | null> {
    return (await this.getMany([])).scan;
  }

  async requestStop(scanId: string): Promise<void> {
    await this.put(this.stopName(), ssmJson({ scanId }));
  }

  async clearStop(): Promise<void> {
    await this.deleteNames([this.stopName()]);
  }

  async saveScan(scan: ScanRecord): Promise<void> {
    await this.put(this.scanName(), encodeScan(scan));
  }

  async scanVersions(): Promise<readonly ScanRecord[]> {
    const name = this.scanName();
    const versions: ScanRecord[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.send(() =>
          this.client.send(new GetParameterHistoryCommand({ Name: name, MaxResults: 50, NextToken: token })),
        );
        for (const { Value: text } of page.Parameters ?? []) {
          // A version another release wrote, or a hand edit, is not history this one can tell.
          const scan = text === undefined ? null : decodedOrNull(text);
          if (scan !== null) versions.push(scan);
        }
        token = page.NextToken;
      } while (token !== undefined);
    } catch (error) {
      if (errorName(error) === 'ParameterNotFound') return [];
      throw translateAwsError(error, `GetParameterHistory ${name}`);
    }
    return versions;
  }

  async loadSegment(segment: number): Promise<SegmentCheckpoint | null> {
    const name = this.segmentName(segment);
    const text = await this.get(name);
    return text === null ? null : readable(name, text, decodeSegment);
  }

  /** The scan, one chain's checkpoint and its peers' in one GetParameters call: one read of the budget. */
  async loadScanAndSegment(
    segment: number,
    peers: readonly number[] = [],
    options: { readonly hint?: boolean } = {},
  ): Promise<{
    scan: ScanRecord | null;
    checkpoint: SegmentCheckpoint | null;
    peers: (SegmentCheckpoint | null)[];
  }> {
    if (peers.length > PEERS_PER_READ) {
      throw new RangeError(`loadScanAndSegment: at most ${PEERS_PER_READ} peers, got ${peers.length}`);
    }
    const name = this.segmentName(segment);
    const peerNames = peers.map((peer) => this.segmentName(peer));
    const { scan, values } = await this.getMany([name, ...peerNames], options.hint === true);
    const text = values.get(name);
    return {
      scan,
      checkpoint: text === undefined ? null : readable(name, text, decodeSegment),
      // A peer's checkpoint is a hint: one this version cannot read is none, as in loadSegments.
      peers: peerNames.map((peer) => {
        const value = values.get(peer);
        return value === undefined ? null : readableOrNull(value, decodeSegment);
      }),
    };
  }

  /** The scan (with its stop request) and other parameters, in one GetParameters call. */
  private async getMany(
    names: readonly string[],
    once = false,
  ): Promise<{ scan: ScanRecord | null; values: Map<string, string> }> {
    const values = await this.getValues([this.scanName(), this.rootName, this.stopName(), ...names], once);
    const stop = stopRequestedFor(values.get(this.stopName()));
    return { scan: withStopRequest(this.scanIn(values), stop), values };
  }

  /**
   * The scan record, or the one an earlier version kept in the root parameter when there is
   * none yet. The root parameter is the stack's: a value there that is not such a record (the
   * template's own) means no scan.
   */
  private scanIn(values: ReadonlyMap<string, string>): ScanRecord | null {
    const own = values.get(this.scanName());
    if (own !== undefined) return readable(this.scanName(), own, decodeScan);
    const earlier = values.get(this.rootName);
    if (earlier === undefined) return null;
    try {
      return decodeScan(earlier);
    } catch {
      return null;
    }
  }

  async loadSegments(segments: readonly number[]): Promise<(SegmentCheckpoint | null)[]> {
    const found: (SegmentCheckpoint | null)[] = [];
    for (let i = 0; i < segments.length; i += GET_BATCH) {
      const names = segments.slice(i, i + GET_BATCH).map((s) => this.segmentName(s));
      const values = await this.getValues(names);
      for (const name of names) {
        const text = values.get(name);
        found.push(text === undefined ? null : readableOrNull(text, decodeSegment));
      }
    }
    return found;
  }

  /** Up to 10 parameters' values by name, in one GetParameters call; missing ones are absent. */
  private async getValues(names: readonly string[], once = false): Promise<Map<string, string>> {
    try {
      const call = () => this.client.send(new GetParametersCommand({ Names: [...names] }));
      const { Parameters } = await (once ? call() : this.send(call));
      return new Map(
        (Parameters ?? []).flatMap((p) =>
          p.Name !== undefined && p.Value !== undefined ? [[p.Name, p.Value]] : [],
        ),
      );
    } catch (error) {
      throw translateAwsError(error, `GetParameters ${names.join(', ')}`);
    }
  }

  async saveSegment(checkpoint: SegmentCheckpoint): Promise<void> {
    await this.put(this.segmentName(checkpoint.segment), encodeSegment(checkpoint));
  }

  async listSegments(): Promise<SegmentListing> {
    const path = `${this.rootName}/segment`;
    const checkpoints: SegmentCheckpoint[] = [];
    const unreadable: UnreadableParameter[] = [];
    try {
      for await (const page of this.byPath(path, false)) {
        for (const { Name: name = '', Value: text } of page.Parameters ?? []) {
          if (text === undefined) continue;
          try {
            checkpoints.push(readable(name, text, decodeSegment));
          } catch (error) {
            if (!(error instanceof UnreadableParameterError)) throw error;
            const chain = Number(name.slice(path.length + 1));
            unreadable.push({ name, chain: Number.isInteger(chain) ? chain : null, reason: error.message });
          }
        }
      }
    } catch (error) {
      throw translateAwsError(error, `GetParametersByPath ${path}`);
    }
    return { checkpoints: checkpoints.sort((a, b) => a.segment - b.segment), unreadable };
  }

  async deleteSegments(segments: readonly number[]): Promise<void> {
    await this.deleteNames(segments.map((s) => this.segmentName(s)));
  }

  /**
   * Deletes in batches of 10, one batch per `DELETE_PAUSE_MS`: DeleteParameters draws on the
   * account's write throughput like PutParameter, so a completion that deletes a thousand chains'
   * parameters must not take the whole account's writes for seconds.
   */
  private async deleteNames(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      if (i > 0) await this.clock.sleep(DELETE_PAUSE_MS);
      const batch = names.slice(i, i + DELETE_BATCH);
      try {
        await this.send(() => this.client.send(new DeleteParametersCommand({ Names: batch })));
      } catch (error) {
        throw translateAwsError(error, `DeleteParameters ${batch.join(', ')}`);
      }
    }
  }

  /** `<root>/<kind>/<key>/<attempt>`, created with Overwrite false: SSM's only atomic create-if-absent. */
  claimName(kind: ClaimKind, key: string, attempt: number): string {
    return `${this.rootName}/${kind}/${key}/${attempt}`;
  }

  /**
   * Create-if-absent. When the SDK resends a create whose first attempt succeeded (its answer
   * was lost), SSM answers ParameterAlreadyExists: a claim that holds this caller's own holder
   * and time is then recognised as this call's, not lost to a competitor.
   */
  async createClaim(kind: ClaimKind, key: string, attempt: number, claim: Claim): Promise<boolean> {
    const name = this.claimName(kind, key, attempt);
    try {
      await this.send(() =>
        this.client.send(
          new PutParameterCommand({
            Name: name,
            Value: ssmJson(claim),
            Type: 'String',
            Overwrite: false,
          }),
        ),
      );
      return true;
    } catch (error) {
      if (errorName(error) !== 'ParameterAlreadyExists')
        throw translateAwsError(error, `PutParameter ${name}`);
    }
    const text = await this.get(name);
    const found = text === null ? null : decodeClaim(text);
    return found?.holder === claim.holder && found.at === claim.at;
  }

  async deleteClaim(kind: ClaimKind, key: string, attempt: number): Promise<void> {
    await this.deleteNames([this.claimName(kind, key, attempt)]);
  }

  async listClaims(kind: ClaimKind, key: string): Promise<NumberedClaim[]> {
    const path = `${this.rootName}/${kind}/${key}`;
    const claims: NumberedClaim[] = [];
    try {
      for await (const page of this.byPath(path, false)) {
        for (const parameter of page.Parameters ?? []) {
          const attempt = Number(parameter.Name?.slice(path.length + 1));
          if (Number.isInteger(attempt)) claims.push({ attempt, claim: decodeClaim(parameter.Value) });
        }
      }
    } catch (error) {
      throw translateAwsError(error, `GetParametersByPath ${path}`);
    }
    return claims.sort((a, b) => a.attempt - b.attempt);
  }

  async deleteClaims(kind: ClaimKind, keep?: string): Promise<void> {
    const kept = keep === undefined ? undefined : `${this.rootName}/${kind}/${keep}/`;
    const names = await this.namesUnder(`${this.rootName}/${kind}`, true);
    await this.deleteNames(names.filter((name) => kept === undefined || !name.startsWith(kept)));
  }

  private async namesUnder(path: string, recursive: boolean): Promise<string[]> {
    const names: string[] = [];
    try {
      for await (const page of this.byPath(path, recursive)) {
        for (const parameter of page.Parameters ?? [])
          if (parameter.Name !== undefined) names.push(parameter.Name);
      }
    } catch (error) {
      throw translateAwsError(error, `GetParametersByPath ${path}`);
    }
    return names;
  }

  /** GetParametersByPath page by page (at most 10 parameters a call), each call retried when throttled. */
  private async *byPath(path: string, recursive: boolean): AsyncGenerator<GetParametersByPathCommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.send(() =>
        this.client.send(
          new GetParametersByPathCommand({ Path: path, Recursive: recursive, NextToken: token }),
        ),
      );
      yield page;
      token = page.NextToken;
    } while (token !== undefined);
  }

  /**
   * Sends a command, waiting out throttling in place: SSM's throughput is shared by the whole
   * account, so a throttled call is retried with backoff until `retryThrottlingUntil`.
   */
  private async send<Output>(call: () => Promise<Output>): Promise<Output> {
    let until: number | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        // TooManyUpdates: concurrent writes to one parameter, throttled the same way.
        const name = errorName(error);
        if (name !== 'ThrottlingException' && name !== 'TooManyUpdates') throw error;
        until ??= this.retryUntil();
        const delay = backoffDelay(attempt, THROTTLE_BASE_MS, THROTTLE_CAP_MS) + THROTTLE_BASE_MS / 2;
        if (this.clock.now() + delay >= until) throw error;
        await this.clock.sleep(delay);
      }
    }
  }

  private async get(name: string): Promise<string | null> {
    try {
      const { Parameter } = await this.send(() => this.client.send(new GetParameterCommand({ Name: name })));
      return Parameter?.Value ?? null;
    } catch (error) {
      if (errorName(error) === 'ParameterNotFound') return null;
      throw translateAwsError(error, `GetParameter ${name}`);
    }
  }

  private async put(name: string, value: string): Promise<void> {
    try {
      await this.send(() =>
        this.client.send(
          new PutParameterCommand({
            Name: name,
            Value: value,
            Type: 'String',
            Overwrite: true,
            Tier: 'Intelligent-Tiering',
          }),
        ),
      );
    } catch (error) {
      throw translateAwsError(error, `PutParameter ${name}`);
    }
  }
}

/** The scan id in a stop request; null for none, or one that is not ours to read. */
function stopRequestedFor(text: string | undefined): string | null {
  if (text === undefined) return null;
  try {
    const value: unknown = JSON.parse(text);
    const scanId = (value as { scanId?: unknown } | null)?.scanId;
    return typeof scanId === 'string' ? scanId : null;
  } catch {
    return null;
  }
}

/**
 * A claim as written by `createClaim`. One that cannot be read (written by hand, or by another
 * version) counts as held by no one since the epoch: abandoned, so the next claimant takes over.
 */
function decodeClaim(text: string | undefined): Claim {
  try {
    const claim = JSON.parse(text ?? '') as Partial<Claim> | null;
    if (typeof claim?.holder === 'string' && typeof claim.at === 'number') {
      return { holder: claim.holder, at: claim.at };
    }
  } catch {
    // Not JSON: abandoned, as below.
  }
  return { holder: 'unreadable', at: 0 };
}

/** Decodes a parameter's value, naming the parameter when it cannot. */
function readable<T>(name: string, text: string, decode: (text: string) => T): T {
  try {
    return decode(text);
  } catch (error) {
    if (!(error instanceof FatalScanError)) throw error;
    throw new UnreadableParameterError(name, error.message.replace(/\.$/, ''), { cause: error });
  }
}

function readableOrNull<T>(text: string, decode: (text: string) => T): T | null {
  try {
    return decode(text);
  } catch (error) {
    if (!(error instanceof FatalScanError)) throw error;
    return null;
  }
}

function decodedOrNull(text: string): ScanRecord | null {
  try {
    return decodeScan(text);
  } catch {
    return null;
  }
}
