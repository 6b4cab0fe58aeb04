import {
  type AttributeMap,
  type AttributeValueJson,
  fromJsonMap,
  toJsonMap,
} from '../lambda/core/attribute-value';

export interface DeliveryReport {
  readonly itemsInTable: number;
  readonly recordsRead: number;
  /** Distinct items of the table that arrived with this scan's id. */
  readonly distinctItems: number;
  /** Records beyond the first for an item. */
  readonly duplicates: number;
  readonly missing: number;
  /** Items whose record differs from the table's item (a lossy round trip). */
  readonly altered: number;
  /** Records of this scan for items that are not in the table, or that are not scanner records. */
  readonly unexpected: number;
  readonly missingExamples: readonly string[];
  readonly alteredExamples: readonly string[];
}

/**
 * Proves delivery: every expected item arrived as a record of the given scan, unchanged
 * (typed values compared exactly, sets as sets), and counts duplicates.
 */
export function checkDelivery(
  expected: readonly AttributeMap[],
  keyAttributes: readonly string[],
  records: readonly Uint8Array[],
  scanId: string,
): DeliveryReport {
  const keyOf = (item: AttributeMap) =>
    JSON.stringify(keyAttributes.map((name) => toJsonMap({ [name]: item[name] ?? { NULL: true } })));
  const wanted = new Map(expected.map((item) => [keyOf(item), canonical(toJsonMap(item))]));
  const seen = new Map<string, number>();
  let unexpected = 0;
  let altered = 0;
  const alteredExamples: string[] = [];
  for (const data of records) {
    const image = decodeImage(data, scanId);
    if (image === 'other-scan') continue;
    if (image === null) {
      unexpected++;
      continue;
    }
    const key = keyOf(image);
    const want = wanted.get(key);
    if (want === undefined) {
      unexpected++;
      continue;
    }
    seen.set(key, (seen.get(key) ?? 0) + 1);
    if (canonical(toJsonMap(image)) !== want) {
      altered++;
      if (alteredExamples.length < 3) alteredExamples.push(key);
    }
  }
  const missingKeys = [...wanted.keys()].filter((key) => !seen.has(key));
  return {
    itemsInTable: expected.length,
    recordsRead: records.length,
    distinctItems: seen.size,
    duplicates: [...seen.values()].reduce((sum, n) => sum + n - 1, 0),
    missing: missingKeys.length,
    altered,
    unexpected,
    missingExamples: missingKeys.slice(0, 3),
    alteredExamples,
  };
}

function decodeImage(data: Uint8Array, scanId: string): AttributeMap | null | 'other-scan' {
  try {
    const record = JSON.parse(Buffer.from(data).toString('utf8')) as {
      eventSource?: unknown;
      scan?: { scanId?: unknown };
      dynamodb?: { NewImage?: unknown };
    };
    if (record.eventSource !== 'aws:dynamodb') return null;
    if (record.scan?.scanId !== scanId) return 'other-scan';
    return fromJsonMap(record.dynamodb?.NewImage, 'NewImage');
  } catch {
    return null;
  }
}

/** JSON with sorted map keys and sorted set members, so equal items compare equal. */
function canonical(map: Record<string, AttributeValueJson>): string {
  const normalize = (value: AttributeValueJson): unknown => {
    if ('SS' in value) return { SS: [...value.SS].sort() };
    if ('NS' in value) return { NS: [...value.NS].sort() };
    if ('BS' in value) return { BS: [...value.BS].sort() };
    if ('M' in value) return { M: normalizeMap(value.M) };
    if ('L' in value) return { L: value.L.map(normalize) };
    return value;
  };
  const normalizeMap = (m: Record<string, AttributeValueJson>) =>
    Object.fromEntries(
      Object.keys(m)
        .sort()
        .map((k) => [k, normalize(m[k] as AttributeValueJson)]),
    );
  return JSON.stringify(normalizeMap(map));
}
