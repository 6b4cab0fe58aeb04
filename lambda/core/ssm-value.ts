/**
 * Text the scanner writes to SSM Parameter Store. SSM refuses a value that contains `{{…}}`
 * (it reads it as a parameter reference) and one over 8,192 characters, so every value is
 * written as ASCII JSON with no `{{` in it, and table keys are packed into bytes first, so
 * escaping cannot inflate them.
 */

import { type AttributeMap, type AttributeValue, setOwn } from './attribute-value';

/**
 * JSON as SSM can store any of it: ASCII only (every character counts once, whatever SSM
 * counts), and no `{{`. JSON's own syntax never puts two braces together (an object's first
 * character is `"` or `}`), so any `{{` lies inside a string, where `\u007b` reads back as `{`.
 *
 * @example ssmJson({ filter: '{{resolve:x}}' }) // '{"filter":"\u007b{resolve:x}}"}'
 */
export function ssmJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]|\{(?=\{)/g, escapeUnit);
}

function escapeUnit(unit: string): string {
  return `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * The text cut to at most `maxChars` once written by `ssmJson` (quotes aside), ending in `...`
 * when cut: error messages quote DynamoDB and the caller's input, and must not push a record
 * over SSM's limit.
 */
export function clipText(text: string, maxChars: number): string {
  if (ssmJson(text).length - 2 <= maxChars) return text;
  const marker = '...';
  let written = 0;
  let end = 0;
  // By code point, so a surrogate pair is never split; a `{` counts as escaped.
  for (const char of text) {
    const size = char === '{' ? 6 : ssmJson(char).length - 2;
    if (written + size > maxChars - marker.length) break;
    written += size;
    end += char.length;
  }
  return `${text.slice(0, end)}${marker}`;
}

/** Key attribute types (DynamoDB allows only S, N and B in a key). */
const TYPE_CODE = { S: 0x53, N: 0x4e, B: 0x42 } as const;

/** Format of an encoded key: the first byte, so that a later layout can be told apart. */
const KEY_FORMAT = 1;

/**
 * Packs a table key (a LastEvaluatedKey or a start key) into base64: per attribute, its name
 * and value as length-prefixed UTF-8 or raw bytes. Nothing is escaped, so a key of DynamoDB's
 * largest size (2,048-byte partition and 1,024-byte sort key, 255-byte names) takes at most
 * 4,792 characters, whatever bytes it holds, and base64 has no braces.
 *
 * @throws TypeError for a value that cannot be part of a key (any type but S, N and B).
 */
export function encodeKey(key: AttributeMap): string {
  const parts: Buffer[] = [Buffer.of(KEY_FORMAT)];
  for (const [name, value] of Object.entries(key)) {
    const [code, bytes] = keyBytes(name, value);
    const nameBytes = Buffer.from(name, 'utf8');
    parts.push(
      length16(nameBytes.length, name),
      nameBytes,
      Buffer.of(code),
      length16(bytes.length, name),
      bytes,
    );
  }
  return Buffer.concat(parts).toString('base64');
}

function keyBytes(name: string, value: AttributeValue): [number, Buffer] {
  if ('S' in value) return [TYPE_CODE.S, Buffer.from(value.S, 'utf8')];
  if ('N' in value) return [TYPE_CODE.N, Buffer.from(value.N, 'utf8')];
  if ('B' in value) return [TYPE_CODE.B, Buffer.from(value.B.buffer, value.B.byteOffset, value.B.byteLength)];
  throw new TypeError(`key attribute ${name} is not a string, number or binary`);
}

function length16(length: number, name: string): Buffer {
  if (length > 0xffff) throw new TypeError(`key attribute ${name} is over 65,535 bytes`);
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(length);
  return buffer;
}

/** Reads back what `encodeKey` wrote. @throws TypeError when the text is not such a key. */
export function decodeKey(text: string): AttributeMap {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new TypeError('the key is not base64');
  const bytes = Buffer.from(text, 'base64');
  if (bytes[0] !== KEY_FORMAT) throw new TypeError(`the key has unknown format ${bytes[0]}`);
  const key: Record<string, AttributeValue> = {};
  let at = 1;
  const take = (length: number): Buffer => {
    if (at + length > bytes.length) throw new TypeError('the key is truncated');
    const part = bytes.subarray(at, at + length);
    at += length;
    return part;
  };
  while (at < bytes.length) {
    const name = take(take(2).readUInt16BE()).toString('utf8');
    const code = take(1)[0];
    const value = take(take(2).readUInt16BE());
    if (code === TYPE_CODE.S) setOwn(key, name, { S: value.toString('utf8') });
    else if (code === TYPE_CODE.N) setOwn(key, name, { N: value.toString('utf8') });
    else if (code === TYPE_CODE.B) setOwn(key, name, { B: new Uint8Array(value) });
    else throw new TypeError(`key attribute ${name} has unknown type ${code}`);
  }
  return key;
}
