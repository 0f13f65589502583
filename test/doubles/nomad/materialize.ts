/**
 * Go's JSON encoding of an api struct: every field present, zero values for
 * the unset ones, empty slices and maps as null (omitempty fields left out).
 */
import { type GoType, parseType, structFields } from './fields.ts';
import { ZERO_TIME } from './state.ts';
import type { Obj } from './types.ts';

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function zero(type: GoType): unknown {
  switch (type.kind) {
    case 'ptr':
    case 'slice':
    case 'map':
      return null;
    case 'struct':
      return materialize(type, {});
    case 'scalar':
      if (type.name === 'string') return '';
      if (type.name === 'bool') return false;
      if (type.name === 'time') return ZERO_TIME;
      if (type.name === 'any' || type.name === 'bytes') return null;
      return 0;
  }
}

/** A value of `type` with every struct field present (Go's JSON encoding of the struct). */
export function materialize(type: GoType, value: unknown): unknown {
  if (value === undefined || value === null) return zero(type);
  switch (type.kind) {
    case 'ptr':
      return materialize(type.elem, value);
    case 'slice':
      return Array.isArray(value) && value.length > 0 ? value.map((v) => materialize(type.elem, v)) : null;
    case 'map':
      if (!isObj(value) || Object.keys(value).length === 0) return null;
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, materialize(type.elem, v)]));
    case 'scalar':
      return value;
    case 'struct': {
      const source = isObj(value) ? value : {};
      const out: Obj = {};
      for (const field of structFields(type.name)) {
        const fieldType = parseType(field.type);
        const v = materialize(fieldType, source[field.name]);
        if (field.omitempty && (v === null || v === '' || v === 0 || v === false)) continue;
        out[field.name] = v;
      }
      return out;
    }
  }
}
