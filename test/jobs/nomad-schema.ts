/**
 * Checks a value against Nomad's API field data (test/doubles/nomad/nomad-api-fields.json,
 * extracted from the Go `api` package and the built-in drivers' hclspecs; its origin is
 * in test/doubles/nomad/README.md). Real Nomad silently drops unknown keys and decodes keys
 * case-insensitively, so a typo there is a setting that never applies; this validator
 * is stricter on purpose:
 * - every key must be a JSON field name of its struct, in exact case
 *   (with a hint when it is the HCL name, e.g. `task_groups` or `memory`);
 * - every value must have its field's JSON type; integers are integers within range,
 *   durations integer nanoseconds (`"30s"` is refused);
 * - Task.Config is checked against the driver's task-config spec (`Driver` picks it):
 *   known keys only, exact types (no HCL string<->number conversion), required ones present.
 * Returns the problems, one line each, with the path to the value; [] when valid.
 */
import { readFileSync } from 'node:fs';

interface Field {
  name: string;
  type: string;
  hcl?: string;
}
interface HclNode {
  kind: 'object' | 'attr' | 'block' | 'blockList' | 'blockAttrs';
  type?: string;
  required?: boolean;
  elementType?: string;
  attrs?: Record<string, HclNode>;
  body?: HclNode;
}
export interface NomadSchema {
  structs: Record<string, { fields: Field[] }>;
  aliases: Record<string, { underlying: string }>;
  drivers: Record<string, { config: HclNode }>;
}

let cached: NomadSchema | undefined;
export function loadNomadSchema(): NomadSchema {
  cached ??= JSON.parse(readFileSync(new URL('../doubles/nomad/nomad-api-fields.json', import.meta.url), 'utf8')) as NomadSchema;
  return cached;
}

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-(2 ** 7), 2 ** 7 - 1],
  int16: [-(2 ** 15), 2 ** 15 - 1],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint8: [0, 2 ** 8 - 1],
  uint16: [0, 2 ** 16 - 1],
  uint32: [0, 2 ** 32 - 1],
  int: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint: [0, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  duration: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : v === null ? 'null' : isObject(v) ? 'an object' : `${typeof v} ${String(v)}`;

export function validateAgainstNomadSchema(value: unknown, rootStructName: string, schema: NomadSchema = loadNomadSchema()): string[] {
  const problems: string[] = [];
  const fail = (path: string, message: string): void => {
    problems.push(`${path || '(root)'}: ${message}`);
  };

  function checkType(v: unknown, type: string, path: string): void {
    if (v === undefined) return; // dropped by JSON.stringify
    if (type.startsWith('*')) return v === null ? undefined : checkType(v, type.slice(1), path);
    if (type.startsWith('[]')) {
      if (v === null) return;
      if (!Array.isArray(v)) return fail(path, `expected a JSON array (${type}), got ${show(v)}`);
      for (const [i, item] of v.entries()) checkType(item, type.slice(2), `${path}[${i}]`);
      return;
    }
    if (type.startsWith('map[string]')) {
      if (v === null) return;
      if (!isObject(v)) return fail(path, `expected a JSON object (${type}), got ${show(v)}`);
      for (const [k, item] of Object.entries(v)) checkType(item, type.slice('map[string]'.length), `${path}.${k}`);
      return;
    }
    const alias = schema.aliases[type];
    if (alias) return checkType(v, alias.underlying, path);
    if (schema.structs[type]) return checkStruct(v, type, path);
    if (v === null) return fail(path, `null is not a ${type} (only pointers, slices and maps take null)`);
    const range = INT_RANGES[type];
    if (range) {
      const what = type === 'duration' ? 'a duration: integer nanoseconds' : `an integer (${type})`;
      if (typeof v !== 'number' || !Number.isInteger(v)) return fail(path, `expected ${what}, got ${show(v)}`);
      if (v < range[0] || v > range[1]) fail(path, `${v} is out of range for ${type}`);
      return;
    }
    switch (type) {
      case 'string':
        if (typeof v !== 'string') fail(path, `expected a string, got ${show(v)}`);
        return;
      case 'bool':
        if (typeof v !== 'boolean') fail(path, `expected true/false, got ${show(v)}`);
        return;
      case 'float32':
      case 'float64':
        if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `expected a number, got ${show(v)}`);
        return;
      case 'time':
        if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) fail(path, `expected an RFC 3339 time string, got ${show(v)}`);
        return;
      case 'bytes':
        if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) fail(path, `expected a base64 string, got ${show(v)}`);
        return;
      case 'any':
        return;
      default:
        fail(path, `schema has no type ${JSON.stringify(type)}`);
    }
  }

  function checkStruct(v: unknown, name: string, path: string): void {
    if (!isObject(v)) return fail(path, `expected a JSON object (${name}), got ${show(v)}`);
    const fields = schema.structs[name]!.fields;
    for (const [key, item] of Object.entries(v)) {
      const field = fields.find((f) => f.name === key);
      const at = path ? `${path}.${key}` : key;
      if (!field) {
        const sameName = fields.find((f) => f.name.toLowerCase() === key.toLowerCase());
        const hclName = fields.find((f) => f.hcl === key);
        const hint = sameName ? `: wrong case, the field is ${sameName.name}` : hclName ? `: that is the HCL name, the JSON field is ${hclName.name}` : '';
        fail(at, `unknown field of ${name}${hint}`);
      } else if (name === 'Task' && key === 'Config' && item !== null && item !== undefined) {
        checkDriverConfig(item, v.Driver, at);
      } else {
        checkType(item, field.type, at);
      }
    }
  }

  function checkDriverConfig(config: unknown, driver: unknown, path: string): void {
    const spec = typeof driver === 'string' ? schema.drivers[driver] : undefined;
    if (!spec) return fail(path, `cannot check the task config of driver ${show(driver)}: no such built-in driver`);
    checkHclObject(config, spec.config, path);
  }

  function checkHclObject(v: unknown, node: HclNode, path: string): void {
    if (!isObject(v)) return fail(path, `expected a JSON object, got ${show(v)}`);
    const attrs = node.attrs ?? {};
    for (const [key, item] of Object.entries(v)) {
      const child = attrs[key];
      if (!child) fail(`${path}.${key}`, 'unknown key for this driver config block');
      else if (item !== undefined) checkHclNode(item, child, `${path}.${key}`);
    }
    for (const [key, child] of Object.entries(attrs)) if (child.required && v[key] === undefined) fail(`${path}.${key}`, 'required');
  }

  function checkHclNode(v: unknown, node: HclNode, path: string): void {
    if (v === null && !node.required) return;
    switch (node.kind) {
      case 'attr':
        return checkHclType(v, node.type ?? 'any', path);
      case 'block':
        if (Array.isArray(v)) {
          if (v.length > 1) return fail(path, 'a single block, not a list');
          for (const [i, b] of v.entries()) checkHclObject(b, node.body!, `${path}[${i}]`);
          return;
        }
        return checkHclObject(v, node.body!, path);
      case 'blockList':
        if (!Array.isArray(v)) return fail(path, `expected a list of blocks, got ${show(v)}`);
        for (const [i, b] of v.entries()) checkHclObject(b, node.body!, `${path}[${i}]`);
        return;
      case 'blockAttrs':
        return checkHclType(v, `map(${node.elementType ?? 'any'})`, path);
      case 'object':
        return checkHclObject(v, node, path);
    }
  }

  function checkHclType(v: unknown, type: string, path: string): void {
    const inner = /^(list|set|map)\((.*)\)$/.exec(type);
    if (inner) {
      const [, kind, element] = inner as unknown as [string, string, string];
      if (kind === 'map') {
        if (!isObject(v)) return fail(path, `expected an object (${type}), got ${show(v)}`);
        for (const [k, item] of Object.entries(v)) checkHclType(item, element, `${path}.${k}`);
        return;
      }
      if (!Array.isArray(v)) return fail(path, `expected a list (${type}), got ${show(v)}`);
      for (const [i, item] of v.entries()) checkHclType(item, element, `${path}[${i}]`);
      return;
    }
    const ok =
      type === 'any' ||
      (type === 'string' && typeof v === 'string') ||
      (type === 'bool' && typeof v === 'boolean') ||
      (type === 'number' && typeof v === 'number' && Number.isFinite(v));
    if (!ok) fail(path, `expected ${type}, got ${show(v)}`);
  }

  const root = schema.structs[rootStructName] ? rootStructName : undefined;
  if (!root) return [`no struct ${JSON.stringify(rootStructName)} in the Nomad schema`];
  checkStruct(value, root, rootStructName === 'JobRegisterRequest' ? '' : rootStructName);
  return problems;
}
