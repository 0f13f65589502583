/**
 * Checks a task's driver `config` against the driver's hclspec (the
 * "drivers" section of the fields file) the way the Nomad client does when a
 * task starts (hclutils.ParseHclInterface over the JSON form): unknown keys,
 * missing required attributes, values that cannot convert to the attribute
 * type, blocks that are not objects. Returns HCL diagnostics as Nomad prints
 * them ("Summary: Detail"); [] when the config is fine or the driver unknown.
 */
import { DRIVER_SCHEMAS, type HclNode, type HclObject } from './fields.ts';
import { formatMultiError } from './goformat.ts';

type Diag = string;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPrimitive = (v: unknown) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** Levenshtein distance, for HCL's "Did you mean" suggestion (distance < 3). */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j += 1) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length]!;
}

function suggestion(name: string, candidates: string[]): string {
  const best = candidates
    .map((c) => ({ c, d: distance(name, c) }))
    .filter((x) => x.d < 3)
    .sort((x, y) => x.d - y.d)[0];
  return best ? ` Did you mean ${JSON.stringify(best.c)}?` : '';
}

/** Whether a JSON value converts to an HCL type ("string", "list(map(number))", ...). */
function converts(value: unknown, type: string): boolean {
  if (type === 'string') return isPrimitive(value);
  if (type === 'number') return typeof value === 'number' || (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)));
  if (type === 'bool') return typeof value === 'boolean' || value === 'true' || value === 'false';
  const list = /^list\((.*)\)$/.exec(type);
  if (list) return Array.isArray(value) && value.every((item) => item !== null && converts(item, list[1]!));
  const map = /^map\((.*)\)$/.exec(type);
  if (map) return isObject(value) && Object.values(value).every((item) => item !== null && converts(item, map[1]!));
  return true;
}

function typeWords(type: string): string {
  const list = /^list\((.*)\)$/.exec(type);
  if (list) return `list of ${typeWords(list[1]!)}`;
  const map = /^map\((.*)\)$/.exec(type);
  if (map) return `map of ${typeWords(map[1]!)}`;
  return type;
}

function checkBody(body: HclObject, value: Record<string, unknown>, diags: Diag[]): void {
  const names = Object.keys(body.attrs);
  for (const [key, child] of Object.entries(value)) {
    const spec = body.attrs[key];
    if (!spec) {
      diags.push(`Invalid label: No argument or block type is named ${JSON.stringify(key)}.${suggestion(key, names)}`);
      continue;
    }
    if (child !== null) checkNode(spec, child, diags);
  }
  for (const [name, spec] of Object.entries(body.attrs)) {
    const required = spec.kind === 'attr' || spec.kind === 'block' || spec.kind === 'blockAttrs' ? spec.required : false;
    if (!required || (value[name] !== undefined && value[name] !== null)) continue;
    diags.push(
      spec.kind === 'attr'
        ? `Missing required argument: The argument ${JSON.stringify(name)} is required, but no definition was found.`
        : `Missing ${name} block: A block of type ${JSON.stringify(name)} is required here.`,
    );
  }
}

function checkNode(spec: HclNode, value: unknown, diags: Diag[]): void {
  const notBlock = 'Incorrect JSON value type: Either a JSON object or a JSON array of objects is required here, to define arguments and child blocks.';
  switch (spec.kind) {
    case 'attr':
      if (!converts(value, spec.type)) {
        diags.push(`Incorrect attribute value type: Inappropriate value for attribute ${JSON.stringify(spec.name)}: ${typeWords(spec.type)} required.`);
      }
      return;
    case 'blockAttrs':
      if (!converts(value, `map(${spec.elementType})`)) {
        diags.push(`Incorrect attribute value type: Inappropriate value for attribute ${JSON.stringify(spec.name)}: map of ${spec.elementType} required.`);
      }
      return;
    case 'block':
    case 'blockList': {
      const items = Array.isArray(value) ? value : [value];
      if (!items.every(isObject)) {
        diags.push(notBlock);
        return;
      }
      if (spec.kind === 'block' && items.length > 1) {
        diags.push(`Duplicate ${spec.name} block: Only one ${spec.name} block is allowed.`);
      }
      for (const item of items) checkBody(spec.body, item as Record<string, unknown>, diags);
    }
  }
}

/** Diagnostics for one task's config; [] for a valid config or a driver without a known schema. */
export function driverConfigDiagnostics(driver: string, config: unknown): Diag[] {
  const schema = DRIVER_SCHEMAS[driver];
  if (!schema) return [];
  const diags: Diag[] = [];
  checkBody(schema, isObject(config) ? config : {}, diags);
  return diags;
}

/** The task event text Nomad shows: "2 errors occurred:\n\t* failed to parse config: \n\t* ...". */
export function driverConfigError(diags: Diag[]): string {
  return formatMultiError(['failed to parse config: ', ...diags]);
}
