/**
 * Decodes a parsed JSON body into a struct of Nomad's api package the way Go's
 * encoding/json does: keys matched exactly, then case-insensitively; unknown
 * keys dropped (and reported here, since real Nomad drops them silently); null
 * leaves non-pointer fields untouched; integers must be integer literals in
 * range; the first type mismatch becomes the error
 *   json: cannot unmarshal string into Go struct field Resources.Job.TaskGroups.Tasks.Resources.CPU of type int
 * while decoding carries on (Go reports only the first one).
 *
 * The result uses the JSON field names of the fields file; absent or null
 * fields are left out (nil).
 */
import { displayType, type GoType, parseType, structFields } from './fields.ts';
import { type JNode, kindName, toPlain } from './gojson.ts';

export interface DecodeResult {
  value: Record<string, unknown> | null;
  /** Dropped keys, as paths like "Job.TaskGroups[0].task_groups". */
  unknownKeys: string[];
  error: string | null;
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int: [-(2n ** 63n), 2n ** 63n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  duration: [-(2n ** 63n), 2n ** 63n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  int8: [-128n, 127n],
  uint: [0n, 2n ** 64n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  uint16: [0n, 65535n],
  uint8: [0n, 255n],
};

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

class Decoder {
  unknownKeys: string[] = [];
  error: string | null = null;
  /** Go's errorContext: the struct holding the current field and the field path from the root. */
  private structName = '';
  private fieldStack: string[] = [];

  private typeError(value: string, type: GoType): undefined {
    if (this.error === null) {
      const target = displayType(type);
      this.error =
        this.fieldStack.length > 0
          ? `json: cannot unmarshal ${value} into Go struct field ${this.structName}.${this.fieldStack.join('.')} of type ${target}`
          : `json: cannot unmarshal ${value} into Go value of type ${target}`;
    }
    return undefined;
  }

  /** Returns the decoded value, or undefined when the destination keeps its old value. */
  value(type: GoType, node: JNode, path: string): unknown {
    if (type.kind === 'ptr') return node.t === 'null' ? null : this.value(type.elem, node, path);
    switch (type.kind) {
      case 'slice': {
        if (node.t === 'null') return null;
        if (type.elem.kind === 'scalar' && type.elem.name === 'bytes') return this.typeError(kindName(node), type);
        if (node.t !== 'arr') return this.typeError(kindName(node), type);
        return node.items.map((item, i) => this.value(type.elem, item, `${path}[${i}]`) ?? zeroOf(type.elem));
      }
      case 'map': {
        if (node.t === 'null') return null;
        if (node.t !== 'obj') return this.typeError(kindName(node), type);
        const out: Record<string, unknown> = {};
        for (const [k, v] of node.entries) out[k] = this.value(type.elem, v, `${path}[${JSON.stringify(k)}]`) ?? zeroOf(type.elem);
        return out;
      }
      case 'struct':
        if (node.t === 'null') return undefined;
        if (node.t !== 'obj') return this.typeError(kindName(node), type);
        return this.struct(type.name, node, path);
      case 'scalar':
        return this.scalar(type, node);
    }
  }

  private scalar(type: Extract<GoType, { kind: 'scalar' }>, node: JNode): unknown {
    if (type.name === 'any') return toPlain(node);
    if (node.t === 'null') return type.name === 'bytes' ? null : undefined;
    switch (type.name) {
      case 'string':
        return node.t === 'str' ? node.v : this.typeError(kindName(node), type);
      case 'bool':
        return node.t === 'bool' ? node.v : this.typeError(kindName(node), type);
      case 'float32':
      case 'float64': {
        if (node.t !== 'num') return this.typeError(kindName(node), type);
        const n = Number(node.raw);
        return Number.isFinite(n) ? n : this.typeError(`number ${node.raw}`, type);
      }
      case 'time':
        if (node.t !== 'str') return this.typeError(kindName(node), type);
        if (!RFC3339.test(node.v)) {
          this.error ??= `parsing time ${JSON.stringify(JSON.stringify(node.v))} as "\\"2006-01-02T15:04:05Z07:00\\"": cannot parse ${JSON.stringify(node.v)} as "2006"`;
          return undefined;
        }
        return node.v;
      case 'bytes':
        if (node.t !== 'str') return this.typeError(kindName(node), type);
        if (!BASE64.test(node.v)) {
          this.error ??= 'illegal base64 data at input byte 0';
          return undefined;
        }
        return node.v;
      default: {
        const range = INT_RANGES[type.name];
        if (!range) throw new Error(`nomad double: no range for ${type.name}`);
        if (node.t !== 'num') return this.typeError(kindName(node), type);
        if (!/^-?\d+$/.test(node.raw)) return this.typeError(`number ${node.raw}`, type);
        const n = BigInt(node.raw);
        if (n < range[0] || n > range[1]) return this.typeError(`number ${node.raw}`, type);
        return Number(node.raw);
      }
    }
  }

  struct(name: string, node: Extract<JNode, { t: 'obj' }>, path: string): Record<string, unknown> {
    const fields = structFields(name);
    const out: Record<string, unknown> = {};
    for (const [key, child] of node.entries) {
      const field = fields.find((f) => f.name === key) ?? fields.find((f) => f.name.toLowerCase() === key.toLowerCase());
      const childPath = path ? `${path}.${key}` : key;
      if (!field) {
        this.unknownKeys.push(childPath);
        continue;
      }
      const saved = { structName: this.structName, depth: this.fieldStack.length };
      this.structName = name;
      this.fieldStack.push(field.name);
      const type = parseType(field.type);
      const decoded = this.value(type, child, childPath);
      this.fieldStack.length = saved.depth;
      this.structName = saved.structName;
      if (decoded === undefined) continue;
      const previous = out[field.name];
      out[field.name] = isPlainObject(previous) && isPlainObject(decoded) && isStructLike(type) ? { ...previous, ...decoded } : decoded;
    }
    return out;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStructLike(type: GoType): boolean {
  return type.kind === 'struct' || (type.kind === 'ptr' && type.elem.kind === 'struct');
}

/** The value a Go zero value decodes to here (used for slice/map elements given null). */
function zeroOf(type: GoType): unknown {
  if (type.kind === 'scalar') {
    if (type.name === 'string') return '';
    if (type.name === 'bool') return false;
    if (type.name === 'any' || type.name === 'bytes') return null;
    if (type.name === 'time') return '0001-01-01T00:00:00Z';
    return 0;
  }
  if (type.kind === 'struct') return {};
  return null;
}

/** Decodes `node` into the named api struct (the root of a request body). */
export function decodeStruct(structName: string, node: JNode): DecodeResult {
  const decoder = new Decoder();
  if (node.t === 'null') return { value: null, unknownKeys: [], error: null };
  if (node.t !== 'obj') {
    return {
      value: null,
      unknownKeys: [],
      error: `json: cannot unmarshal ${kindName(node)} into Go value of type api.${structName}`,
    };
  }
  const value = decoder.struct(structName, node, '');
  return { value, unknownKeys: decoder.unknownKeys, error: decoder.error };
}
