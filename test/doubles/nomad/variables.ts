/**
 * Nomad Variables (/v1/var/:path, /v1/vars), as Nomad 1.7+ answers them: a PUT creates
 * or replaces a variable (with ?cas=<ModifyIndex> it must match, else 409 with the
 * current variable), a GET of a missing path is 404 "variable not found", DELETE is
 * idempotent, the list holds metadata without Items. Paths under "nomad/" other than
 * "nomad/jobs" are reserved. Tasks read their job's variables through templates
 * (renderTemplateEnv).
 */
import { authorize, type Ctx, HttpError, methodIs, namespaceOf, queryMeta, readBody, sendJson, writeMeta } from './http-kit.ts';
import type { NomadState } from './state.ts';
import type { Obj } from './types.ts';

export interface VariableRecord {
  Namespace: string;
  Path: string;
  Items: Record<string, string>;
  CreateIndex: number;
  ModifyIndex: number;
  CreateTime: number;
  ModifyTime: number;
}

export const variableKey = (namespace: string, path: string) => `${namespace}\u0000${path}`;

const PATH = /^[a-zA-Z0-9_\-~/]{1,128}$/;

function checkPath(path: string): void {
  if (!PATH.test(path) || path.startsWith('/') || path.endsWith('/') || path.includes('//')) throw new HttpError(400, `invalid path "${path}"`);
  if (path.startsWith('nomad/') && !path.startsWith('nomad/jobs')) throw new HttpError(400, `"nomad/" is a reserved top-level directory path`);
}

const metadata = ({ Items: _items, ...rest }: VariableRecord) => rest;

export async function variableEndpoint(ctx: Ctx, state: NomadState, path: string): Promise<void> {
  methodIs(ctx, 'GET', 'PUT', 'DELETE');
  const namespace = namespaceOf(ctx);
  checkPath(path);
  const key = variableKey(namespace, path);
  if (ctx.method === 'GET') {
    authorize(ctx, false);
    const found = state.variables.get(key);
    if (!found) throw new HttpError(404, 'variable not found');
    return sendJson(ctx, found, queryMeta(state.tables.vars));
  }
  authorize(ctx, true);
  const cas = ctx.query.get('cas');
  const current = state.variables.get(key);
  if (cas !== null && Number(cas) !== (current?.ModifyIndex ?? 0)) {
    ctx.res.writeHead(409, { 'content-type': 'application/json', ...writeMeta(state.index) });
    ctx.log.status = 409;
    ctx.res.end(JSON.stringify(current ?? null));
    return;
  }
  if (ctx.method === 'DELETE') {
    const index = state.write(['vars'], () => state.variables.delete(key));
    return sendJson(ctx, null, writeMeta(index));
  }
  const body = await readBody(ctx);
  if (body === null) throw new HttpError(400, 'Request body is empty');
  let parsed: Obj;
  try {
    parsed = JSON.parse(body) as Obj;
  } catch (err) {
    throw new HttpError(400, `failed to parse variable: ${(err as Error).message}`);
  }
  const items = parsed.Items;
  if (items === null || typeof items !== 'object' || Object.keys(items).length === 0) throw new HttpError(400, 'variable missing required Items object');
  for (const [name, value] of Object.entries(items)) if (typeof value !== 'string') throw new HttpError(400, `variable item "${name}" must be a string`);
  if (typeof parsed.Path === 'string' && parsed.Path !== '' && parsed.Path !== path) throw new HttpError(400, 'variable path does not match the URL');
  const now = Date.now() * 1e6;
  let written!: VariableRecord;
  const index = state.write(['vars'], (i) => {
    written = {
      Namespace: namespace,
      Path: path,
      Items: { ...(items as Record<string, string>) },
      CreateIndex: current?.CreateIndex ?? i,
      ModifyIndex: i,
      CreateTime: current?.CreateTime ?? now,
      ModifyTime: now,
    };
    state.variables.set(key, written);
  });
  sendJson(ctx, written, writeMeta(index));
}

export function variablesListEndpoint(ctx: Ctx, state: NomadState): void {
  methodIs(ctx, 'GET');
  authorize(ctx, false);
  const namespace = namespaceOf(ctx);
  const prefix = ctx.query.get('prefix') ?? '';
  const list = [...state.variables.values()].filter((v) => (namespace === '*' || v.Namespace === namespace) && v.Path.startsWith(prefix)).map(metadata);
  sendJson(ctx, list, queryMeta(state.tables.vars));
}

const TEMPLATE = /^\{\{ with nomadVar "([^"]+)" \}\}\n([\s\S]*?)\n\{\{ end \}\}\n?$/;
const LINE = /^([A-Z_][A-Z0-9_]*)=\{\{ \.([A-Z_][A-Z0-9_]*) \| toJSON \}\}$/;

/** The variable paths a task's templates read (only the form jobs/common.ts writes is understood). */
export function templateVariablePaths(task: Obj): string[] {
  const templates = Array.isArray(task.Templates) ? (task.Templates as Obj[]) : [];
  return templates.flatMap((t) => {
    const match = TEMPLATE.exec(String(t.EmbeddedTmpl ?? ''));
    return match ? [match[1]!] : [];
  });
}

/** What a task's env templates render: each NAME=value line of a variable that exists. */
export function renderTemplateEnv(state: NomadState, namespace: string, task: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  const templates = Array.isArray(task.Templates) ? (task.Templates as Obj[]) : [];
  for (const template of templates) {
    if (template.Envvars !== true) continue;
    const match = TEMPLATE.exec(String(template.EmbeddedTmpl ?? ''));
    if (!match) continue;
    const variable = state.variables.get(variableKey(namespace, match[1]!));
    if (!variable) continue;
    for (const line of match[2]!.split('\n')) {
      const parsed = LINE.exec(line.trim());
      if (parsed && parsed[2]! in variable.Items) env[parsed[1]!] = variable.Items[parsed[2]!]!;
    }
  }
  return env;
}
