import {
  DeleteParametersCommand,
  GetParameterCommand,
  PutParameterCommand,
  paginateGetParametersByPath,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import { FatalScanError } from '../core/errors';
import type { CheckpointStore, Claim, ClaimKind, NumberedClaim } from '../core/ports';
import {
  decodeScan,
  decodeSegment,
  encodeScan,
  encodeSegment,
  type ScanRecord,
  type SegmentCheckpoint,
} from '../core/scan-state';
import { errorName, translateAwsError } from './aws-errors';

/** SSM: DeleteParameters takes at most 10 names. */
const DELETE_BATCH = 10;

/**
 * Keeps the scan in the root parameter and each segment's checkpoint in `<root>/segment/<n>`,
 * so every chain writes only its own parameter. Values are written with Intelligent-Tiering:
 * Standard up to 4,096 characters, Advanced (up to 8,192) only when a large key needs it.
 */
export class SsmCheckpointStore implements CheckpointStore {
  constructor(
    private readonly client: SSMClient,
    private readonly rootName: string,
  ) {}

  segmentName(segment: number): string {
    return `${this.rootName}/segment/${segment}`;
  }

  async loadScan(): Promise<ScanRecord | null> {
    const text = await this.get(this.rootName);
    return text === null ? null : decodeScan(text);
  }

  async saveScan(scan: ScanRecord): Promise<void> {
    await this.put(this.rootName, encodeScan(scan));
  }

  async loadSegment(segment: number): Promise<SegmentCheckpoint | null> {
    const text = await this.get(this.segmentName(segment));
    return text === null ? null : decodeSegment(text);
  }

  async saveSegment(checkpoint: SegmentCheckpoint): Promise<void> {
    await this.put(this.segmentName(checkpoint.segment), encodeSegment(checkpoint));
  }

  async listSegments(): Promise<SegmentCheckpoint[]> {
    const path = `${this.rootName}/segment`;
    const checkpoints: SegmentCheckpoint[] = [];
    try {
      for await (const page of paginateGetParametersByPath(
        { client: this.client },
        { Path: path, Recursive: false },
      )) {
        for (const parameter of page.Parameters ?? []) {
          if (parameter.Value !== undefined) checkpoints.push(decodeSegment(parameter.Value));
        }
      }
    } catch (error) {
      throw translateAwsError(error, `GetParametersByPath ${path}`);
    }
    return checkpoints.sort((a, b) => a.segment - b.segment);
  }

  async deleteSegments(segments: readonly number[]): Promise<void> {
    await this.deleteNames(segments.map((s) => this.segmentName(s)));
  }

  private async deleteNames(names: readonly string[]): Promise<void> {
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const batch = names.slice(i, i + DELETE_BATCH);
      try {
        await this.client.send(new DeleteParametersCommand({ Names: batch }));
      } catch (error) {
        throw translateAwsError(error, `DeleteParameters ${batch.join(', ')}`);
      }
    }
  }

  /** `<root>/<kind>/<key>/<attempt>`, created with Overwrite false: SSM's only atomic create-if-absent. */
  claimName(kind: ClaimKind, key: string, attempt: number): string {
    return `${this.rootName}/${kind}/${key}/${attempt}`;
  }

  async createClaim(kind: ClaimKind, key: string, attempt: number, claim: Claim): Promise<boolean> {
    const name = this.claimName(kind, key, attempt);
    try {
      await this.client.send(
        new PutParameterCommand({
          Name: name,
          Value: JSON.stringify(claim),
          Type: 'String',
          Overwrite: false,
        }),
      );
      return true;
    } catch (error) {
      if (errorName(error) === 'ParameterAlreadyExists') return false;
      throw translateAwsError(error, `PutParameter ${name}`);
    }
  }

  async listClaims(kind: ClaimKind, key: string): Promise<NumberedClaim[]> {
    const path = `${this.rootName}/${kind}/${key}`;
    const claims: NumberedClaim[] = [];
    try {
      for await (const page of paginateGetParametersByPath(
        { client: this.client },
        { Path: path, Recursive: false },
      )) {
        for (const parameter of page.Parameters ?? []) {
          const attempt = Number(parameter.Name?.slice(path.length + 1));
          if (Number.isInteger(attempt)) claims.push({ attempt, claim: decodeClaim(parameter.Value, path) });
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
      for await (const page of paginateGetParametersByPath(
        { client: this.client },
        { Path: path, Recursive: recursive },
      )) {
        for (const parameter of page.Parameters ?? [])
          if (parameter.Name !== undefined) names.push(parameter.Name);
      }
    } catch (error) {
      throw translateAwsError(error, `GetParametersByPath ${path}`);
    }
    return names;
  }

  private async get(name: string): Promise<string | null> {
    try {
      const { Parameter } = await this.client.send(new GetParameterCommand({ Name: name }));
      return Parameter?.Value ?? null;
    } catch (error) {
      if (errorName(error) === 'ParameterNotFound') return null;
      throw translateAwsError(error, `GetParameter ${name}`);
    }
  }

  private async put(name: string, value: string): Promise<void> {
    try {
      await this.client.send(
        new PutParameterCommand({
          Name: name,
          Value: value,
          Type: 'String',
          Overwrite: true,
          Tier: 'Intelligent-Tiering',
        }),
      );
    } catch (error) {
      throw translateAwsError(error, `PutParameter ${name}`);
    }
  }
}

function decodeClaim(text: string | undefined, where: string): Claim {
  let value: unknown;
  try {
    value = JSON.parse(text ?? '');
  } catch (error) {
    throw new FatalScanError(`The claim under ${where} is not JSON.`, { cause: error });
  }
  const claim = value as Partial<Claim> | null;
  if (typeof claim?.holder !== 'string' || typeof claim.at !== 'number') {
    throw new FatalScanError(`The claim under ${where} is corrupt.`);
  }
  return { holder: claim.holder, at: claim.at };
}
