/** Read endpoints: allocations, evaluations, Nomad-native services, status, namespaces. */
import { allocChecksView, allocStubView, allocView } from './alloc-views.ts';
import { blockingRead, type Ctx, namespaceOf, queryMeta, sendJson, sendText } from './http-kit.ts';
import type { AllocRecord } from './types.ts';
import { evalView } from './views.ts';

const byPrefix = <T extends { id: string }>(items: Iterable<T>, prefix: string) =>
  [...items].filter((x) => x.id.startsWith(prefix)).sort((a, b) => (a.id < b.id ? -1 : 1));

const inNamespace = (ctx: Ctx, namespace: string) => {
  const wanted = namespaceOf(ctx);
  return wanted === '*' || wanted === namespace;
};

/** GET /v1/allocation/:id and /v1/allocation/:id/checks */
export async function allocationEndpoint(ctx: Ctx, allocId: string, sub: '' | 'checks'): Promise<void> {
  const { state } = ctx.rt;
  const index = await blockingRead(ctx, () => state.allocs.get(allocId)?.modifyIndex ?? state.tables.allocs);
  if (index === null) return;
  const alloc: AllocRecord | undefined = state.allocs.get(allocId);
  if (!alloc) return sendText(ctx, 404, 'alloc not found', queryMeta(index));
  sendJson(ctx, sub === 'checks' ? allocChecksView(alloc) : allocView(state, alloc, ctx.rt.options), queryMeta(index));
}

/** GET /v1/allocations?prefix= */
export async function allocationsEndpoint(ctx: Ctx): Promise<void> {
  const { state } = ctx.rt;
  const index = await blockingRead(ctx, () => state.tables.allocs);
  if (index === null) return;
  const allocs = byPrefix(state.allocs.values(), ctx.query.get('prefix') ?? '').filter((a) => inNamespace(ctx, a.namespace));
  sendJson(ctx, allocs.map(allocStubView), queryMeta(index));
}

/** GET /v1/evaluation/:id and /v1/evaluation/:id/allocations */
export async function evaluationEndpoint(ctx: Ctx, evalId: string, sub: '' | 'allocations'): Promise<void> {
  const { state } = ctx.rt;
  const index = await blockingRead(ctx, () => (sub === 'allocations' ? state.tables.allocs : (state.evals.get(evalId)?.modifyIndex ?? state.tables.evals)));
  if (index === null) return;
  if (sub === 'allocations') {
    return sendJson(ctx, [...state.allocs.values()].filter((a) => a.evalId === evalId).map(allocStubView), queryMeta(index));
  }
  const evaluation = state.evals.get(evalId);
  if (!evaluation) return sendText(ctx, 404, 'eval not found', queryMeta(index));
  sendJson(ctx, evalView(evaluation), queryMeta(index));
}

/** GET /v1/evaluations?prefix= */
export async function evaluationsEndpoint(ctx: Ctx): Promise<void> {
  const { state } = ctx.rt;
  const index = await blockingRead(ctx, () => state.tables.evals);
  if (index === null) return;
  const evals = byPrefix(state.evals.values(), ctx.query.get('prefix') ?? '').filter((e) => inNamespace(ctx, e.namespace));
  sendJson(ctx, evals.map(evalView), queryMeta(index));
}

/** GET /v1/service/:name (unknown: 200 []) */
export async function serviceEndpoint(ctx: Ctx, name: string): Promise<void> {
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const index = await blockingRead(ctx, () => state.serviceIndex(namespace, name));
  if (index === null) return;
  sendJson(ctx, state.servicesNamed(namespace, name), queryMeta(index));
}

/** GET /v1/services: [{Namespace, Services: [{ServiceName, Tags}]}] */
export async function servicesEndpoint(ctx: Ctx): Promise<void> {
  const { state } = ctx.rt;
  const index = await blockingRead(ctx, () => state.tables.services);
  if (index === null) return;
  const byNamespace = new Map<string, Map<string, Set<string>>>();
  for (const s of state.services.values()) {
    if (!inNamespace(ctx, s.Namespace)) continue;
    const names = byNamespace.get(s.Namespace) ?? new Map<string, Set<string>>();
    const tags = names.get(s.ServiceName) ?? new Set<string>();
    for (const tag of s.Tags ?? []) tags.add(tag);
    names.set(s.ServiceName, tags);
    byNamespace.set(s.Namespace, names);
  }
  const body = [...byNamespace].map(([namespace, names]) => ({
    Namespace: namespace,
    Services: [...names].map(([ServiceName, tags]) => ({ ServiceName, Tags: [...tags].sort() })),
  }));
  sendJson(ctx, body, queryMeta(index));
}

/** GET /v1/namespaces */
export async function namespacesEndpoint(ctx: Ctx): Promise<void> {
  const index = await blockingRead(ctx, () => 1);
  if (index === null) return;
  sendJson(
    ctx,
    ctx.rt.options.namespaces.map((name) => ({
      Name: name,
      Description: name === 'default' ? 'Default shared namespace' : '',
      Quota: '',
      Meta: null,
      Capabilities: null,
      NodePoolConfiguration: null,
      CreateIndex: 1,
      ModifyIndex: 1,
    })),
    queryMeta(index),
  );
}

/** GET /v1/status/leader */
export async function leaderEndpoint(ctx: Ctx): Promise<void> {
  const index = await blockingRead(ctx, () => ctx.rt.state.index);
  if (index === null) return;
  sendJson(ctx, '127.0.0.1:4647');
}
