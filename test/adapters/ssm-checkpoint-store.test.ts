import {
  AccessDeniedException,
  DeleteParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  type GetParametersByPathCommandInput,
  GetParametersCommand,
  ParameterAlreadyExists,
  ParameterNotFound,
  PutParameterCommand,
  type PutParameterCommandInput,
  SSMClient,
  ThrottlingException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SsmCheckpointStore } from '../../lambda/adapters/ssm-checkpoint-store';
import { INITIAL_ROOT_PARAMETER_VALUE } from '../../lambda/contract';
import { FatalScanError, TransientError, UnreadableParameterError } from '../../lambda/core/errors';
import type { Claim } from '../../lambda/core/ports';
import {
  DEFAULT_SCAN_OPTIONS,
  encodeScan,
  encodeSegment,
  type ScanRecord,
  type SegmentCheckpoint,
} from '../../lambda/core/scan-state';
import { FakeClock } from '../fakes';

const ROOT = '/ddbscan/orders';

const ssm = mockClient(SSMClient);

/** A store on a fake clock that retries throttling for `retryMs` (none by default). */
function newStore(retryMs = 0, clock = new FakeClock()): SsmCheckpointStore {
  return new SsmCheckpointStore(new SSMClient({ region: 'us-east-1', maxAttempts: 1 }), ROOT, {
    clock,
    retryThrottlingUntil: () => clock.now() + retryMs,
  });
}

function checkpoint(segment: number, overrides: Partial<SegmentCheckpoint> = {}): SegmentCheckpoint {
  return {
    scanId: '20261121T131600Z-4f2a9c',
    segment,
    currentSegment: segment,
    totalSegments: 4,
    generation: 3,
    owner: 'a1b2c3d4e5f60718',
    state: 'RUNNING',
    position: { pk: { S: `customer#${segment}` }, sk: { N: '42' } },
    itemsScanned: 1200,
    recordsPut: 1200,
    bytesPut: 987_654,
    handoffs: 2,
    handedOffBy: null,
    stalls: 0,
    relaunches: 0,
    updatedAt: 1_700_000_000_000,
    error: null,
    ...overrides,
  };
}

const scan: ScanRecord = {
  scanId: '20261121T131600Z-4f2a9c',
  state: 'RUNNING',
  tableName: 'orders',
  keyAttributes: ['pk', 'sk'],
  tableItemCount: 48_000,
  options: DEFAULT_SCAN_OPTIONS,
  totalSegments: 4,
  chains: 4,
  streamShards: 4,
  startedAt: 1_700_000_000_000,
  finishedAt: null,
  error: null,
  summary: null,
};

const SCAN_ID = '20261121T131600Z-4f2a9c';
const claim: Claim = { holder: 'status-7f3e', at: 1_700_000_900_000 };

function putInputs(): PutParameterCommandInput[] {
  return ssm.commandCalls(PutParameterCommand).map((call) => call.args[0].input);
}

const notFound = () => new ParameterNotFound({ message: 'Parameter not found', $metadata: {} });
const throttling = () =>
  new ThrottlingException({ message: 'Rate exceeded', Message: 'Rate exceeded', $metadata: {} });
const accessDenied = () => {
  const message = 'not authorized to perform an SSM action on this resource';
  return new AccessDeniedException({ message, Message: message, $metadata: {} });
};

describe('SsmCheckpointStore', () => {
  beforeEach(() => {
    ssm.reset();
  });

  describe('loading', () => {
    it('returns null for the scan when no scan record exists', async () => {
      ssm
        .on(GetParametersCommand)
        .resolves({ Parameters: [], InvalidParameters: [`${ROOT}/scan`, ROOT, `${ROOT}/stop`] });

      await expect(newStore().loadScan()).resolves.toBeNull();
      expect(ssm).toHaveReceivedCommandWith(GetParametersCommand, {
        Names: [`${ROOT}/scan`, ROOT, `${ROOT}/stop`],
      });
    });

    it('returns null for a segment whose parameter does not exist', async () => {
      ssm.on(GetParameterCommand, { Name: `${ROOT}/segment/3` }).rejects(notFound());

      await expect(newStore().loadSegment(3)).resolves.toBeNull();
      expect(ssm).toHaveReceivedCommandWith(GetParameterCommand, { Name: `${ROOT}/segment/3` });
    });

    it('returns null for the scan while the root parameter holds its initial value', async () => {
      ssm
        .on(GetParametersCommand)
        .resolves({ Parameters: [{ Name: ROOT, Value: INITIAL_ROOT_PARAMETER_VALUE }] });

      await expect(newStore().loadScan()).resolves.toBeNull();
    });

    it('reads back the scan it saved under the root, never in the stack-owned root parameter', async () => {
      ssm.on(PutParameterCommand).resolves({ Version: 2 });
      const store = newStore();
      await store.saveScan(scan);
      const [written] = putInputs();
      expect(written).toMatchObject({ Name: `${ROOT}/scan`, Overwrite: true, Tier: 'Intelligent-Tiering' });
      ssm.on(GetParametersCommand).resolves({
        Parameters: [
          { Name: `${ROOT}/scan`, Value: written?.Value },
          // What a stack update puts back in the root parameter: it changes nothing.
          { Name: ROOT, Value: INITIAL_ROOT_PARAMETER_VALUE },
        ],
      });

      await expect(store.loadScan()).resolves.toEqual(scan);
    });

    it('reads a scan and a chain an earlier version wrote (the scan in the root parameter)', async () => {
      // Written by the previous version (7d7c16e): keys as JSON attribute maps, binary as base64.
      const earlierScan =
        '{"v":1,"scan":{"scanId":"20261121T131600Z-4f2a9c","state":"STOPPED","tableName":"Orders","keyAttributes":["pk","sk"],"tableItemCount":1000,"options":{"filterExpression":"#s = :s","projectionExpression":null,"expressionNames":{"#s":"status"},"expressionValues":{":s":{"S":"open"},":b":{"B":"AAH+/w=="}},"consistentRead":false,"pageSize":null,"startKey":{"pk":{"B":"AP8K"},"sk":{"N":"7"}},"recordFormat":"dynamodb-stream","maxItemsPerSecond":500,"maxReadUnitsPerSecond":null},"totalSegments":1,"chains":1,"streamShards":4,"startedAt":1700000000000,"finishedAt":null,"error":null,"summary":null,"startRequest":"abcd"}}';
      const earlierChain =
        '{"v":1,"scanId":"20261121T131600Z-4f2a9c","segment":0,"currentSegment":0,"totalSegments":1,"generation":4,"owner":null,"state":"STOPPED","position":{"pk":{"B":"AP8L"},"sk":{"N":"9"}},"itemsScanned":40,"recordsPut":40,"bytesPut":4000,"handoffs":3,"handedOffBy":"owner-3","stalls":0,"updatedAt":1700000100000,"error":null}';
      ssm.on(GetParametersCommand).resolves({
        Parameters: [
          { Name: ROOT, Value: earlierScan },
          { Name: `${ROOT}/segment/0`, Value: earlierChain },
        ],
      });

      const { scan: found, checkpoint: chain } = await newStore().loadScanAndSegment(0);

      expect(found).toMatchObject({ state: 'STOPPED', startRequest: 'abcd', chains: 1 });
      expect(found?.options).toMatchObject({
        expressionValues: { ':s': { S: 'open' }, ':b': { B: new Uint8Array([0, 1, 254, 255]) } },
        startKey: { pk: { B: new Uint8Array([0, 255, 10]) }, sk: { N: '7' } },
        maxItemsPerSecond: 500,
      });
      expect(chain).toMatchObject({
        generation: 4,
        position: { pk: { B: new Uint8Array([0, 255, 11]) }, sk: { N: '9' } },
        relaunches: 0,
      });
    });

    it('names a scan record it cannot read, and says how to go on', async () => {
      ssm
        .on(GetParametersCommand)
        .resolves({ Parameters: [{ Name: `${ROOT}/scan`, Value: '{"v":3,"scan":{}}' }] });

      const error = await newStore()
        .loadScan()
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(UnreadableParameterError);
      expect(error).toHaveProperty(
        'message',
        `The parameter ${ROOT}/scan cannot be read (The scan record is corrupt: unexpected version 3): it was written by another version of the scanner or by hand. Delete it, or start over (ddbscan start --restart, or {"action":"start","restart":true}), which replaces it.`,
      );
    });

    it('reads a running scan as STOPPING once a stop was requested for it, and only for it', async () => {
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      const store = newStore();
      await store.requestStop(scan.scanId);
      const [request] = putInputs();
      expect(request).toMatchObject({ Name: `${ROOT}/stop`, Overwrite: true });
      const root = { Name: ROOT, Value: encodeScan(scan) };

      ssm
        .on(GetParametersCommand)
        .resolves({ Parameters: [root, { Name: `${ROOT}/stop`, Value: request?.Value }] });
      await expect(store.loadScan()).resolves.toMatchObject({ scanId: scan.scanId, state: 'STOPPING' });

      ssm.on(GetParametersCommand).resolves({
        Parameters: [root, { Name: `${ROOT}/stop`, Value: '{"scanId":"an-older-scan"}' }],
      });
      await expect(store.loadScan()).resolves.toMatchObject({ state: 'RUNNING' });
    });
  });

  describe('the history of the scan record', () => {
    it('reads every kept version, page by page, oldest first, leaving out what it cannot read', async () => {
      const older = { ...scan, scanId: '20261120T090000Z-aaaaaa', state: 'COMPLETED' as const };
      ssm
        .on(GetParameterHistoryCommand, { Name: `${ROOT}/scan`, NextToken: undefined })
        .resolves({ Parameters: [{ Value: encodeScan(older) }, { Value: '{"v":9}' }], NextToken: 'page-2' })
        .on(GetParameterHistoryCommand, { Name: `${ROOT}/scan`, NextToken: 'page-2' })
        .resolves({ Parameters: [{ Value: encodeScan(scan) }] });

      const versions = await newStore().scanVersions();

      expect(versions.map((v) => [v.scanId, v.state])).toEqual([
        ['20261120T090000Z-aaaaaa', 'COMPLETED'],
        [SCAN_ID, 'RUNNING'],
      ]);
      expect(ssm.commandCalls(GetParameterHistoryCommand)[0]?.args[0].input).toMatchObject({
        MaxResults: 50,
      });
    });

    it('has no versions before the first scan', async () => {
      ssm.on(GetParameterHistoryCommand).rejects(notFound());
      expect(await newStore().scanVersions()).toEqual([]);
    });
  });

  describe('scan options', () => {
    it('round-trips options with a binary expression value and a start key through saveScan and loadScan', async () => {
      const bytes = Uint8Array.from([0, 1, 127, 128, 255, 0x2f]);
      const withOptions: ScanRecord = {
        ...scan,
        totalSegments: 1,
        options: {
          filterExpression: '#s = :open AND attribute_exists(#b) AND #b <> :blob',
          projectionExpression: 'pk, sk, #s',
          expressionNames: { '#s': 'status', '#b': 'blob' },
          expressionValues: { ':open': { S: 'OPEN' }, ':blob': { B: bytes } },
          consistentRead: true,
          pageSize: 250,
          startKey: { pk: { S: 'customer#7' }, sk: { B: Uint8Array.from([9, 8, 7]) } },
          recordFormat: 'item',
          maxItemsPerSecond: 2000,
          maxReadUnitsPerSecond: 150,
        },
      };
      ssm.on(PutParameterCommand).resolves({ Version: 3 });
      const store = newStore();

      await store.saveScan(withOptions);
      const [written] = putInputs();
      ssm.on(GetParametersCommand).resolves({ Parameters: [{ Name: ROOT, Value: written?.Value }] });
      const loaded = await store.loadScan();

      expect(loaded).toEqual(withOptions);
      const blob = loaded?.options.expressionValues?.[':blob'];
      expect(blob && 'B' in blob ? [...blob.B] : []).toEqual([0, 1, 127, 128, 255, 47]);
      const sk = loaded?.options.startKey?.sk;
      expect(sk && 'B' in sk ? [...sk.B] : []).toEqual([9, 8, 7]);
    });
  });

  describe('completion claims', () => {
    it('creates <root>/completion/<scanId>/<attempt> with Overwrite false and returns true', async () => {
      ssm.on(PutParameterCommand).resolves({ Version: 1, Tier: 'Standard' });

      await expect(newStore().createClaim('completion', SCAN_ID, 2, claim)).resolves.toBe(true);

      expect(ssm).toHaveReceivedCommandExactlyOnceWith(PutParameterCommand, {
        Name: `${ROOT}/completion/${SCAN_ID}/2`,
        Type: 'String',
        Overwrite: false,
      });
      expect(JSON.parse(putInputs()[0]?.Value ?? 'null')).toEqual(claim);
    });

    it('returns false when another invocation created the claim first', async () => {
      const name = `${ROOT}/completion/${SCAN_ID}/0`;
      ssm
        .on(PutParameterCommand)
        .rejects(new ParameterAlreadyExists({ message: 'The parameter already exists.', $metadata: {} }));
      ssm.on(GetParameterCommand, { Name: name }).resolves({
        Parameter: { Name: name, Value: JSON.stringify({ holder: 'repair-9', at: claim.at }) },
      });

      await expect(newStore().createClaim('completion', SCAN_ID, 0, claim)).resolves.toBe(false);
    });

    it('recognises its own claim when the SDK resent a create whose first attempt succeeded', async () => {
      const name = `${ROOT}/completion/${SCAN_ID}/0`;
      // The first attempt created the parameter but its answer was lost; the resend finds it.
      ssm
        .on(PutParameterCommand)
        .rejects(new ParameterAlreadyExists({ message: 'The parameter already exists.', $metadata: {} }));
      ssm.on(GetParameterCommand, { Name: name }).resolves({
        Parameter: { Name: name, Value: JSON.stringify(claim) },
      });

      await expect(newStore().createClaim('completion', SCAN_ID, 0, claim)).resolves.toBe(true);
    });

    it('lists the claims of a scan by attempt', async () => {
      const path = `${ROOT}/completion/${SCAN_ID}`;
      const later = { holder: 'repair-1', at: claim.at + 1 };
      ssm.on(GetParametersByPathCommand, { Path: path }).resolves({
        Parameters: [
          { Name: `${path}/1`, Value: JSON.stringify(later) },
          { Name: `${path}/0`, Value: JSON.stringify(claim) },
        ],
      });

      await expect(newStore().listClaims('completion', SCAN_ID)).resolves.toEqual([
        { attempt: 0, claim },
        { attempt: 1, claim: later },
      ]);
    });

    it.each([
      ['a claim without a holder', JSON.stringify({ at: 1_700_000_900_000 })],
      ['a claim whose time is a string', JSON.stringify({ holder: 'status-7f3e', at: '2026-11-21' })],
      ['a JSON null', 'null'],
      ['a value that is not JSON', '{oops'],
    ])(
      'reads %s as a claim abandoned since the epoch, so the next claimant takes over',
      async (_name, value) => {
        ssm
          .on(GetParametersByPathCommand)
          .resolves({ Parameters: [{ Name: `${ROOT}/completion/${SCAN_ID}/0`, Value: value }] });

        await expect(newStore().listClaims('completion', SCAN_ID)).resolves.toEqual([
          { attempt: 0, claim: { holder: 'unreadable', at: 0 } },
        ]);
      },
    );

    it('deletes every claim of every scan, listing recursively, at most 10 names per call', async () => {
      const names = Array.from({ length: 12 }, (_, i) => `${ROOT}/completion/scan-${i}/0`);
      const requests: string[][] = [];
      ssm.on(GetParametersByPathCommand).callsFake((input: GetParametersByPathCommandInput) => {
        requests.push([input.Path ?? '', String(input.Recursive), input.NextToken ?? '']);
        const parameters = names.map((Name) => ({ Name, Value: JSON.stringify(claim) }));
        return input.NextToken === undefined
          ? { Parameters: parameters.slice(0, 7), NextToken: 'page-2' }
          : { Parameters: parameters.slice(7) };
      });
      ssm.on(DeleteParametersCommand).resolves({ DeletedParameters: [], InvalidParameters: [] });

      await newStore().deleteClaims('completion');

      expect(requests).toEqual([
        [`${ROOT}/completion`, 'true', ''],
        [`${ROOT}/completion`, 'true', 'page-2'],
      ]);
      const batches = ssm.commandCalls(DeleteParametersCommand).map((call) => call.args[0].input.Names);
      expect(batches.map((batch) => batch?.length)).toEqual([10, 2]);
      expect(batches.flat()).toEqual(names);
    });

    it('sends no DeleteParameters when there is no claim', async () => {
      ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });
      await newStore().deleteClaims('completion');
      expect(ssm).not.toHaveReceivedCommand(DeleteParametersCommand);
    });
  });

  describe('saving a segment', () => {
    it('writes <root>/segment/<n> as a String with Overwrite and Intelligent-Tiering', async () => {
      ssm.on(PutParameterCommand).resolves({ Version: 4, Tier: 'Standard' });

      await newStore().saveSegment(checkpoint(7));

      expect(ssm).toHaveReceivedCommandExactlyOnceWith(PutParameterCommand, {
        Name: `${ROOT}/segment/7`,
        Value: encodeSegment(checkpoint(7)),
        Type: 'String',
        Overwrite: true,
        Tier: 'Intelligent-Tiering',
      });
    });

    it('round-trips a position with binary key attributes byte for byte', async () => {
      const bytes = Uint8Array.from([0, 1, 127, 128, 254, 255, 0x2f, 0x2b, 0x3d]);
      const saved = checkpoint(2, { position: { pk: { B: bytes }, sk: { S: 'order#1' } } });
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      const store = newStore();

      await store.saveSegment(saved);
      const [written] = putInputs();
      ssm.on(GetParameterCommand, { Name: `${ROOT}/segment/2` }).resolves({
        Parameter: { Name: `${ROOT}/segment/2`, Value: written?.Value },
      });
      const loaded = await store.loadSegment(2);

      expect(loaded).toEqual(saved);
      const position = loaded?.position;
      expect(position?.pk).toEqual({ B: bytes });
      expect(position?.pk && 'B' in position.pk ? [...position.pk.B] : []).toEqual([
        0, 1, 127, 128, 254, 255, 47, 43, 61,
      ]);
    });

    it('writes the checkpoint of a largest key above the Standard tier size, up to 8,192 characters', async () => {
      ssm.on(PutParameterCommand).resolves({ Version: 1, Tier: 'Advanced' });
      // A 2,048-byte partition key and a 1,024-byte sort key: DynamoDB's largest.
      const large = checkpoint(0, {
        position: { pk: { S: '\u00e9'.repeat(1024) }, sk: { S: 'x'.repeat(1024) } },
      });

      await newStore().saveSegment(large);

      const [written] = putInputs();
      expect(written?.Value?.length).toBeGreaterThan(4096);
      expect(written?.Value?.length).toBeLessThanOrEqual(8192);
      expect(written?.Tier).toBe('Intelligent-Tiering');
    });

    it('throws FatalScanError before any PutParameter when the checkpoint exceeds 8,192 characters', async () => {
      ssm.on(PutParameterCommand).resolves({ Version: 1 });
      const huge = checkpoint(1, { position: { pk: { S: 'x'.repeat(8192) } } });

      await expect(newStore().saveSegment(huge)).rejects.toBeInstanceOf(FatalScanError);
      expect(ssm).not.toHaveReceivedCommand(PutParameterCommand);
    });
  });

  describe('listing segments', () => {
    it('pages through GetParametersByPath with NextToken and sorts by segment', async () => {
      const parameter = (segment: number) => ({
        Name: `${ROOT}/segment/${segment}`,
        Value: encodeSegment(checkpoint(segment)),
      });
      const pages = new Map([
        [undefined, { Parameters: [parameter(10), parameter(2)], NextToken: 'page-2' }],
        ['page-2', { Parameters: [parameter(0), parameter(1)], NextToken: 'page-3' }],
        ['page-3', { Parameters: [] }],
      ]);
      // The paginator reuses one input object, so record each request as it is sent.
      const requests: (string | undefined)[][] = [];
      ssm.on(GetParametersByPathCommand).callsFake((input: GetParametersByPathCommandInput) => {
        requests.push([input.Path, input.NextToken]);
        return pages.get(input.NextToken);
      });

      const { checkpoints: segments } = await newStore().listSegments();

      expect(segments.map((s) => s.segment)).toEqual([0, 1, 2, 10]);
      expect(segments[0]).toEqual(checkpoint(0));
      expect(requests).toEqual([
        [`${ROOT}/segment`, undefined],
        [`${ROOT}/segment`, 'page-2'],
        [`${ROOT}/segment`, 'page-3'],
      ]);
    });

    it('returns no segments when none is stored', async () => {
      ssm.on(GetParametersByPathCommand).resolves({ Parameters: [] });

      await expect(newStore().listSegments()).resolves.toEqual({ checkpoints: [], unreadable: [] });
    });

    it('lists the chains it cannot read by name beside the ones it can', async () => {
      ssm.on(GetParametersByPathCommand).resolves({
        Parameters: [
          { Name: `${ROOT}/segment/0`, Value: encodeSegment(checkpoint(0)) },
          { Name: `${ROOT}/segment/1`, Value: '{"v":9}' },
          { Name: `${ROOT}/segment/notes`, Value: 'written by hand' },
        ],
      });

      const { checkpoints, unreadable } = await newStore().listSegments();

      expect(checkpoints).toEqual([checkpoint(0)]);
      expect(unreadable.map(({ name, chain }) => ({ name, chain }))).toEqual([
        { name: `${ROOT}/segment/1`, chain: 1 },
        { name: `${ROOT}/segment/notes`, chain: null },
      ]);
      expect(unreadable[0]?.reason).toContain('unexpected version 9');
    });
  });

  describe('deleting segments', () => {
    it('sends DeleteParameters in chunks of at most 10 names', async () => {
      ssm.on(DeleteParametersCommand).resolves({ DeletedParameters: [], InvalidParameters: [] });
      const segments = Array.from({ length: 23 }, (_, i) => i);

      await newStore().deleteSegments(segments);

      const batches = ssm.commandCalls(DeleteParametersCommand).map((call) => call.args[0].input.Names);
      expect(batches.map((names) => names?.length)).toEqual([10, 10, 3]);
      expect(batches.flat()).toEqual(segments.map((s) => `${ROOT}/segment/${s}`));
    });

    it('sends nothing when there is nothing to delete', async () => {
      await newStore().deleteSegments([]);

      expect(ssm).not.toHaveReceivedCommand(DeleteParametersCommand);
    });
  });

  describe('throttling', () => {
    it('waits throttling out in place, with backoff, and succeeds', async () => {
      const clock = new FakeClock();
      ssm
        .on(GetParametersCommand)
        .rejectsOnce(throttling())
        .rejectsOnce(throttling())
        .resolves({ Parameters: [{ Name: ROOT, Value: INITIAL_ROOT_PARAMETER_VALUE }] });
      const started = clock.now();

      await expect(newStore(30_000, clock).loadScan()).resolves.toBeNull();

      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 3);
      // Two backoffs of at least 0.1 s each, far below the 30 s allowed.
      expect(clock.now() - started).toBeGreaterThanOrEqual(200);
      expect(clock.now() - started).toBeLessThan(5_000);
    });

    it('gives up once the time allowed is spent, with the throttling as cause', async () => {
      const clock = new FakeClock();
      const sdkError = throttling();
      ssm.on(PutParameterCommand).rejects(sdkError);

      const error = await newStore(10_000, clock)
        .saveSegment(checkpoint(1))
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect(error).toHaveProperty('cause', sdkError);
      expect(ssm.commandCalls(PutParameterCommand).length).toBeGreaterThan(3);
    });

    it('reads a hint once, without waiting out throttling', async () => {
      ssm.on(GetParametersCommand).rejects(throttling());

      const error = await newStore(30_000)
        .loadScanAndSegment(1, [0], { hint: true })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(TransientError);
      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 1);
    });

    it('does not retry other errors', async () => {
      ssm.on(GetParametersCommand).rejects(accessDenied());

      await expect(newStore(30_000).loadScan()).rejects.toBeInstanceOf(FatalScanError);

      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 1);
    });
  });

  describe('reads of several parameters', () => {
    it('reads the scan and a chain in one GetParameters call', async () => {
      ssm.on(GetParametersCommand).resolves({
        Parameters: [
          { Name: ROOT, Value: INITIAL_ROOT_PARAMETER_VALUE },
          { Name: `${ROOT}/segment/1`, Value: encodeSegment(checkpoint(1)) },
        ],
      });

      const { scan: found, checkpoint: chain } = await newStore().loadScanAndSegment(1);

      expect(found).toBeNull();
      expect(chain).toEqual(checkpoint(1));
      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 1);
      expect(ssm).toHaveReceivedCommandWith(GetParametersCommand, {
        Names: [`${ROOT}/scan`, ROOT, `${ROOT}/stop`, `${ROOT}/segment/1`],
      });
    });

    it("reads other chains' checkpoints in the same call, with null where there is none or it is unreadable", async () => {
      ssm.on(GetParametersCommand).resolves({
        Parameters: [
          { Name: `${ROOT}/segment/1`, Value: encodeSegment(checkpoint(1)) },
          { Name: `${ROOT}/segment/0`, Value: encodeSegment(checkpoint(0)) },
          { Name: `${ROOT}/segment/3`, Value: '{"version":99}' },
        ],
      });

      const { checkpoint: chain, peers } = await newStore().loadScanAndSegment(1, [0, 2, 3]);

      expect(chain).toEqual(checkpoint(1));
      expect(peers).toEqual([checkpoint(0), null, null]);
      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 1);
      expect(ssm).toHaveReceivedCommandWith(GetParametersCommand, {
        Names: [`${ROOT}/scan`, ROOT, `${ROOT}/stop`, ...[1, 0, 2, 3].map((c) => `${ROOT}/segment/${c}`)],
      });
    });

    it('refuses more peers than fit in one GetParameters call', async () => {
      await expect(newStore().loadScanAndSegment(0, [1, 2, 3, 4, 5, 6, 7])).rejects.toThrow(
        'at most 6 peers, got 7',
      );
      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 0);
    });

    it('reads chains 10 a call, in the order asked, with null where there is none', async () => {
      ssm.on(GetParametersCommand).callsFake((input: { Names: string[] }) => ({
        Parameters: input.Names.filter((name) => !name.endsWith('/segment/3')).map((name) => ({
          Name: name,
          Value: encodeSegment(checkpoint(Number(name.split('/').at(-1)))),
        })),
      }));
      const chains = Array.from({ length: 25 }, (_, i) => 24 - i);

      const found = await newStore().loadSegments(chains);

      expect(ssm).toHaveReceivedCommandTimes(GetParametersCommand, 3);
      expect(found.map((c) => c?.segment ?? null)).toEqual(chains.map((c) => (c === 3 ? null : c)));
    });
  });

  describe('error translation', () => {
    const operations = [
      ['loadScan', (store: SsmCheckpointStore) => store.loadScan()],
      ['loadSegment', (store: SsmCheckpointStore) => store.loadSegment(1)],
      ['saveScan', (store: SsmCheckpointStore) => store.saveScan(scan)],
      ['saveSegment', (store: SsmCheckpointStore) => store.saveSegment(checkpoint(1))],
      ['listSegments', (store: SsmCheckpointStore) => store.listSegments()],
      ['loadSegments', (store: SsmCheckpointStore) => store.loadSegments([1, 2])],
      ['loadScanAndSegment', (store: SsmCheckpointStore) => store.loadScanAndSegment(1)],
      ['deleteSegments', (store: SsmCheckpointStore) => store.deleteSegments([1, 2])],
      ['createClaim', (store: SsmCheckpointStore) => store.createClaim('completion', SCAN_ID, 0, claim)],
      ['listClaims', (store: SsmCheckpointStore) => store.listClaims('completion', SCAN_ID)],
      ['deleteClaims', (store: SsmCheckpointStore) => store.deleteClaims('start')],
    ] as const;

    it.each(operations)(
      '%s turns a ThrottlingException that outlasted the SDK retries into TransientError',
      async (_name, run) => {
        const sdkError = throttling();
        ssm.rejects(sdkError);

        const error = await run(newStore()).catch((e: unknown) => e);

        expect(error).toBeInstanceOf(TransientError);
        expect(error).toHaveProperty('cause', sdkError);
      },
    );

    it.each(operations)('%s turns AccessDeniedException into FatalScanError', async (_name, run) => {
      const sdkError = accessDenied();
      ssm.rejects(sdkError);

      const error = await run(newStore()).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(FatalScanError);
      expect(error).toHaveProperty('cause', sdkError);
    });

    it('throws an error naming the parameter when a stored checkpoint is not JSON', async () => {
      ssm.on(GetParameterCommand).resolves({ Parameter: { Name: `${ROOT}/segment/1`, Value: '{oops' } });

      const error = await newStore()
        .loadSegment(1)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnreadableParameterError);
      expect(error).toHaveProperty('parameter', `${ROOT}/segment/1`);
    });
  });
});
