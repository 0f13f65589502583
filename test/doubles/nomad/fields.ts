/**
 * The field data of Nomad's Go `api` package and the built-in drivers'
 * task-config schemas (nomad-api-fields.json; where it comes from and how to
 * refresh it: README.md beside this file), plus a parser for its type
 * strings ("*int", "[]*TaskGroup", "map[string][]string", ...).
 */
import { readFileSync } from 'node:fs';

export interface FieldSpec {
  /** JSON key (Go field name unless a json tag renames it). */
  name: string;
  type: string;
  omitempty?: boolean;
  hcl?: string;
}

export interface StructSpec {
  fields: FieldSpec[];
}

export interface HclAttr {
  kind: 'attr';
  name: string;
  type: string;
  required?: boolean;
}
export interface HclBlock {
  kind: 'block' | 'blockList';
  name: string;
  required?: boolean;
  body: HclObject;
}
export interface HclBlockAttrs {
  kind: 'blockAttrs';
  name: string;
  elementType: string;
  required?: boolean;
}
export type HclNode = HclAttr | HclBlock | HclBlockAttrs;
export interface HclObject {
  kind: 'object';
  attrs: Record<string, HclNode>;
}

interface FieldsFile {
  structs: Record<string, StructSpec>;
  aliases: Record<string, { underlying: string; alias: boolean }>;
  drivers: Record<string, { config: HclObject }>;
}

const data = JSON.parse(readFileSync(new URL('./nomad-api-fields.json', import.meta.url), 'utf8')) as FieldsFile;

export const STRUCTS: Readonly<Record<string, StructSpec>> = data.structs;
export const DRIVER_SCHEMAS: Readonly<Record<string, HclObject>> = Object.fromEntries(Object.entries(data.drivers).map(([name, d]) => [name, d.config]));

export type ScalarName =
  | 'string'
  | 'bool'
  | 'float32'
  | 'float64'
  | 'duration'
  | 'time'
  | 'bytes'
  | 'any'
  | 'int'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64';

export type GoType =
  | { kind: 'ptr'; elem: GoType }
  | { kind: 'slice'; elem: GoType }
  | { kind: 'map'; elem: GoType }
  | { kind: 'scalar'; name: ScalarName; display: string }
  | { kind: 'struct'; name: string };

const SCALARS = new Set<string>([
  'string',
  'bool',
  'float32',
  'float64',
  'duration',
  'time',
  'bytes',
  'any',
  'int',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
]);

const SCALAR_DISPLAY: Partial<Record<ScalarName, string>> = {
  duration: 'time.Duration',
  time: 'time.Time',
  bytes: '[]uint8',
  any: 'interface {}',
};

const cache = new Map<string, GoType>();

/** Parses a type string of the fields file. */
export function parseType(text: string): GoType {
  const hit = cache.get(text);
  if (hit) return hit;
  let parsed: GoType;
  if (text.startsWith('*')) parsed = { kind: 'ptr', elem: parseType(text.slice(1)) };
  else if (text.startsWith('[]')) parsed = { kind: 'slice', elem: parseType(text.slice(2)) };
  else if (text.startsWith('map[string]')) parsed = { kind: 'map', elem: parseType(text.slice('map[string]'.length)) };
  else if (SCALARS.has(text)) {
    const name = text as ScalarName;
    parsed = { kind: 'scalar', name, display: SCALAR_DISPLAY[name] ?? name };
  } else if (data.aliases[text]) {
    const alias = data.aliases[text];
    const base = parseType(alias.underlying);
    parsed = base.kind === 'scalar' && !alias.alias ? { ...base, display: `api.${text}` } : base;
  } else if (data.structs[text]) parsed = { kind: 'struct', name: text };
  else throw new Error(`nomad double: unknown type ${text} in nomad-api-fields.json`);
  cache.set(text, parsed);
  return parsed;
}

/** The Go spelling of a type as encoding/json prints it in errors ("[]*api.TaskGroup"). */
export function displayType(type: GoType): string {
  switch (type.kind) {
    case 'ptr':
      return `*${displayType(type.elem)}`;
    case 'slice':
      return `[]${displayType(type.elem)}`;
    case 'map':
      return `map[string]${displayType(type.elem)}`;
    case 'scalar':
      return type.display;
    case 'struct':
      return `api.${type.name}`;
  }
}

/** Fields of a struct by JSON key (exact), for lookups. */
export function structFields(name: string): FieldSpec[] {
  const spec = data.structs[name];
  if (!spec) throw new Error(`nomad double: unknown struct ${name}`);
  return spec.fields;
}
