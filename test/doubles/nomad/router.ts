/**
 * Request entry: logs the request, applies slow()/failNext(), routes like
 * Nomad's HTTP server (/v1/job/:id suffixes included) and renders errors as
 * plain text. Unknown paths get Go's "404 page not found".
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { blockingRead, type Ctx, HttpError, namespaceOf, queryMeta, sendJson, sendText } from './http-kit.ts';
import { jobAllocationsEndpoint, jobEndpoint, jobEvaluationsEndpoint, jobPlanEndpoint, jobSummaryEndpoint, jobsEndpoint } from './job-handlers.ts';
import {
  allocationEndpoint,
  allocationsEndpoint,
  evaluationEndpoint,
  evaluationsEndpoint,
  leaderEndpoint,
  namespacesEndpoint,
  serviceEndpoint,
  servicesEndpoint,
} from './read-handlers.ts';
import type { Runtime } from './runtime.ts';
import type { Scheduler } from './scheduler.ts';
import type { LoggedRequest } from './types.ts';
import { variableEndpoint, variablesListEndpoint } from './variables.ts';
import { jobView } from './views.ts';

const NOT_IMPLEMENTED = new Set([
  '/evaluate',
  '/deployments',
  '/deployment',
  '/scale',
  '/stable',
  '/revert',
  '/dispatch',
  '/periodic/force',
  '/submission',
  '/actions',
  '/action',
]);

function notImplemented(ctx: Ctx): void {
  sendText(ctx, 501, `nomad double: ${ctx.method} ${ctx.path} is not implemented`);
}

async function jobServices(ctx: Ctx, jobId: string): Promise<void> {
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const index = await blockingRead(ctx, () => state.tables.services);
  if (index === null) return;
  if (!state.getJob(namespace, jobId)) return sendText(ctx, 404, 'job not found', queryMeta(index));
  const services = [...state.services.values()].filter((s) => s.Namespace === namespace && s.JobID === jobId);
  sendJson(ctx, services, queryMeta(index));
}

async function jobVersions(ctx: Ctx, jobId: string): Promise<void> {
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const index = await blockingRead(ctx, () => state.getJob(namespace, jobId)?.modifyIndex ?? state.tables.jobs);
  if (index === null) return;
  const job = state.getJob(namespace, jobId);
  if (!job) return sendText(ctx, 404, 'job versions not found', queryMeta(index));
  const versions = [...job.versions].sort(([a], [b]) => b - a).map(([version, spec]) => jobView(job, spec, version));
  sendJson(ctx, { Versions: versions, Diffs: null, Index: index, LastContact: 0, KnownLeader: true, NextToken: '' }, queryMeta(index));
}

async function routeJob(ctx: Ctx, scheduler: Scheduler, rest: string): Promise<void> {
  const suffixes: Array<[string, (id: string) => Promise<void>]> = [
    ['/allocations', (id) => jobAllocationsEndpoint(ctx, id)],
    ['/evaluations', (id) => jobEvaluationsEndpoint(ctx, id)],
    ['/summary', (id) => jobSummaryEndpoint(ctx, id)],
    ['/plan', (id) => jobPlanEndpoint(ctx, id)],
    ['/services', (id) => jobServices(ctx, id)],
    ['/versions', (id) => jobVersions(ctx, id)],
  ];
  for (const [suffix, handle] of suffixes) if (rest.endsWith(suffix)) return handle(rest.slice(0, -suffix.length));
  for (const suffix of NOT_IMPLEMENTED) if (rest.endsWith(suffix)) return notImplemented(ctx);
  return jobEndpoint(ctx, scheduler, rest);
}

async function route(ctx: Ctx, scheduler: Scheduler): Promise<void> {
  const path = ctx.path;
  const under = (prefix: string) => (path.startsWith(prefix) ? path.slice(prefix.length) : null);
  if (path === '/v1/jobs') return jobsEndpoint(ctx, scheduler);
  const job = under('/v1/job/');
  if (job !== null) return routeJob(ctx, scheduler, job);
  if (path === '/v1/allocations') return allocationsEndpoint(ctx);
  const alloc = under('/v1/allocation/');
  if (alloc !== null) {
    if (alloc.endsWith('/checks')) return allocationEndpoint(ctx, alloc.slice(0, -'/checks'.length), 'checks');
    if (alloc.includes('/')) return notImplemented(ctx);
    return allocationEndpoint(ctx, alloc, '');
  }
  if (path === '/v1/evaluations') return evaluationsEndpoint(ctx);
  const evaluation = under('/v1/evaluation/');
  if (evaluation !== null) {
    if (evaluation.endsWith('/allocations')) return evaluationEndpoint(ctx, evaluation.slice(0, -'/allocations'.length), 'allocations');
    return evaluationEndpoint(ctx, evaluation, '');
  }
  if (path === '/v1/services') return servicesEndpoint(ctx);
  const service = under('/v1/service/');
  if (service !== null) {
    if (service.includes('/')) return notImplemented(ctx);
    return serviceEndpoint(ctx, service);
  }
  if (path === '/v1/vars') return variablesListEndpoint(ctx, ctx.rt.state);
  const variable = under('/v1/var/');
  if (variable !== null) return variableEndpoint(ctx, ctx.rt.state, variable);
  if (path === '/v1/namespaces') return namespacesEndpoint(ctx);
  if (path === '/v1/status/leader') return leaderEndpoint(ctx);
  return sendText(ctx, 404, '404 page not found\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createHandler(rt: Runtime, scheduler: Scheduler, requests: LoggedRequest[]) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://nomad.invalid');
    let path = url.pathname;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      // Go keeps the raw path when it cannot be decoded.
    }
    const log: LoggedRequest = { method: req.method ?? 'GET', path, query: Object.fromEntries(url.searchParams) };
    requests.push(log);
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const ctx: Ctx = { rt, req, res, method: log.method, path, query: url.searchParams, signal: controller.signal, log };
    if (rt.faults.slowMs > 0) await sleep(rt.faults.slowMs);
    const failure = rt.faults.takeFailure();
    if (failure) return sendText(ctx, failure.status, failure.body);
    try {
      await route(ctx, scheduler);
    } catch (err) {
      if (err instanceof HttpError) return sendText(ctx, err.status, err.message);
      rt.errors.push(err instanceof Error ? err : new Error(String(err)));
      sendText(ctx, 500, err instanceof Error ? err.message : String(err));
    }
  };
}
