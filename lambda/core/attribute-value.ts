/**
 * DynamoDB's typed attribute value, as the low-level API carries it. Declared here so the
 * core stays free of the AWS SDK; the SDK's own `AttributeValue` members are assignable to it.
 */
export type AttributeValue =
  | { readonly S: string }
  | { readonly N: string }
  | { readonly B: Uint8Array }
  | { readonly SS: readonly string[] }
  | { readonly NS: readonly string[] }
  | { readonly BS: readonly Uint8Array[] }
  | { readonly M: AttributeMap }
  | { readonly L: readonly AttributeValue[] }
  | { readonly NULL: boolean }
  | { readonly BOOL: boolean };

export type AttributeMap = Readonly<Record<string, AttributeValue>>;

/** The JSON form of an attribute value: binary as base64, everything else as DynamoDB sends it. */
export type AttributeValueJson =
  | { S: string }
  | { N: string }
  | { B: string }
  | { SS: string[] }
  | { NS: string[] }
  | { BS: string[] }
  | { M: Record<string, AttributeValueJson> }
  | { L: AttributeValueJson[] }
  | { NULL: boolean }
  | { BOOL: boolean };

/** Converts a typed value to JSON without loss: numbers stay strings, binary becomes base64. */
export function toJsonValue(value: AttributeValue): AttributeValueJson {
  if ('S' in value) return { S: value.S };
  if ('N' in value) return { N: value.N };
  if ('B' in value) return { B: toBase64(value.B) };
  if ('SS' in value) return { SS: [...value.SS] };
  if ('NS' in value) return { NS: [...value.NS] };
  if ('BS' in value) return { BS: value.BS.map(toBase64) };
  if ('M' in value) return { M: toJsonMap(value.M) };
  if ('L' in value) return { L: value.L.map(toJsonValue) };
  if ('NULL' in value) return { NULL: value.NULL };
  return { BOOL: value.BOOL };
}

/**
 * An item as DynamoDB's JSON API sends it (and a Kinesis Data Streams for DynamoDB record
 * carries it): typed values, numbers as strings, binary as base64.
 */
export type ItemJson = Readonly<Record<string, AttributeValueJson>>;

export function toJsonMap(map: AttributeMap): Record<string, AttributeValueJson> {
  const out: Record<string, AttributeValueJson> = {};
  for (const [name, value] of Object.entries(map)) setOwn(out, name, toJsonValue(value));
  return out;
}

/**
 * Reads the JSON form back. Throws on anything that is not an attribute value, because the
 * input comes from outside (a checkpoint in SSM, a record on the stream).
 */
export function fromJsonValue(json: unknown, path = 'value'): AttributeValue {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TypeError(`${path} is not an attribute value`);
  }
  const entries = Object.entries(json);
  const [entry] = entries;
  if (entries.length !== 1 || entry === undefined) {
    throw new TypeError(`${path} must have exactly one type key`);
  }
  const [type, inner] = entry;
  switch (type) {
    case 'S':
    case 'N':
      if (typeof inner !== 'string') throw new TypeError(`${path}.${type} must be a string`);
      return type === 'S' ? { S: inner } : { N: inner };
    case 'B':
      if (typeof inner !== 'string') throw new TypeError(`${path}.B must be a base64 string`);
      return { B: fromBase64(inner) };
    case 'SS':
    case 'NS':
    case 'BS': {
      if (!Array.isArray(inner) || !inner.every((e) => typeof e === 'string')) {
        throw new TypeError(`${path}.${type} must be an array of strings`);
      }
      const strings = inner as string[];
      if (type === 'SS') return { SS: strings };
      if (type === 'NS') return { NS: strings };
      return { BS: strings.map(fromBase64) };
    }
    case 'M':
      return { M: fromJsonMap(inner, `${path}.M`) };
    case 'L':
      if (!Array.isArray(inner)) throw new TypeError(`${path}.L must be an array`);
      return { L: inner.map((e, i) => fromJsonValue(e, `${path}.L[${i}]`)) };
    case 'NULL':
    case 'BOOL':
      if (typeof inner !== 'boolean') throw new TypeError(`${path}.${type} must be a boolean`);
      return type === 'NULL' ? { NULL: inner } : { BOOL: inner };
    default:
      throw new TypeError(`${path} has unknown type ${JSON.stringify(type)}`);
  }
}

export function fromJsonMap(json: unknown, path = 'map'): AttributeMap {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new TypeError(`${path} is not a map of attribute values`);
  }
  const out: Record<string, AttributeValue> = {};
  for (const [name, value] of Object.entries(json))
    setOwn(out, name, fromJsonValue(value, `${path}.${name}`));
  return out;
}

/**
 * Sets an own property, whatever its name: an attribute may be called `__proto__`, which an
 * assignment would take as the object's prototype instead.
 */
export function setOwn<T>(target: Record<string, T>, name: string, value: T): void {
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}
