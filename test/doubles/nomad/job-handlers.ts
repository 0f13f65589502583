/** Endpoints under /v1/jobs and /v1/job/:id. */
import { allocStubView } from './alloc-views.ts';
import { objs, specChanged, str } from './canonicalize.ts';
import { formatGoBoolError, formatMultiError, formatWarnings, parseGoBool } from './goformat.ts';
import {
  authorize,
  blockingRead,
  type Ctx,
  checkRegion,
  HttpError,
  methodIs,
  namespaceOf,
  queryMeta,
  sendJson,
  sendText,
  writeBody,
  writeMeta,
} from './http-kit.ts';
import { infeasible } from './placement.ts';
import { parseJobRequest, registerJob } from './register.ts';
import type { Scheduler } from './scheduler.ts';
import { jobKey, ZERO_TIME } from './state.ts';
import type { Obj } from './types.ts';
import { validateJob } from './validate.ts';
import { evalView, jobStubView, jobSummaryView, jobView } from './views.ts';

function boolParam(ctx: Ctx, name: string): boolean {
  const raw = ctx.query.get(name);
  if (raw === null || raw === '') return false;
  const value = parseGoBool(raw);
  if (value === null) throw new HttpError(400, formatGoBoolError(name, raw));
  return value;
}

/** GET /v1/jobs?prefix=&meta=true, PUT/POST /v1/jobs */
export async function jobsEndpoint(ctx: Ctx, scheduler: Scheduler): Promise<void> {
  if (ctx.method === 'PUT' || ctx.method === 'POST') return registerJob(ctx, scheduler, null);
  methodIs(ctx, 'GET');
  const withMeta = boolParam(ctx, 'meta');
  const { state } = ctx.rt;
  const index = await blockingRead(ctx, () => state.tables.jobs);
  if (index === null) return;
  const namespace = namespaceOf(ctx);
  const prefix = ctx.query.get('prefix') ?? '';
  const jobs = [...state.jobs.values()]
    .filter((j) => (namespace === '*' || j.namespace === namespace) && j.id.startsWith(prefix))
    .sort((a, b) => (a.id === b.id ? (a.namespace < b.namespace ? -1 : 1) : a.id < b.id ? -1 : 1));
  sendJson(
    ctx,
    jobs.map((j) => jobStubView(state, j, withMeta)),
    queryMeta(index),
  );
}

/** GET|PUT|POST|DELETE /v1/job/:id */
export async function jobEndpoint(ctx: Ctx, scheduler: Scheduler, jobId: string): Promise<void> {
  if (ctx.method === 'PUT' || ctx.method === 'POST') return registerJob(ctx, scheduler, jobId);
  if (ctx.method === 'DELETE') return deregisterJob(ctx, scheduler, jobId);
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const index = await blockingRead(ctx, () => state.getJob(namespace, jobId)?.modifyIndex ?? state.tables.jobs);
  if (index === null) return;
  const job = state.getJob(namespace, jobId);
  if (!job) return sendText(ctx, 404, 'job not found', queryMeta(index));
  sendJson(ctx, jobView(job), queryMeta(index));
}

async function deregisterJob(ctx: Ctx, scheduler: Scheduler, jobId: string): Promise<void> {
  const purgeRaw = ctx.query.get('purge') ?? '';
  const purge = purgeRaw === '' ? false : parseGoBool(purgeRaw);
  if (purge === null) throw new HttpError(500, formatGoBoolError('purge', purgeRaw));
  checkRegion(ctx);
  authorize(ctx, true);
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const job = state.getJob(namespace, jobId);
  const empty = { EvalID: '', EvalCreateIndex: 0, JobModifyIndex: 0, VolumeEvalID: '', VolumeEvalIndex: 0 };
  if (!job) return sendJson(ctx, writeBody(empty, state.index), writeMeta(state.index));
  const stopped: Obj = { ...job.spec, Stop: true };
  const jobModifyIndex = state.write(['jobs'], (index) => {
    if (purge) {
      state.jobs.delete(jobKey(namespace, jobId));
      return;
    }
    job.version += 1;
    job.versions.set(job.version, stopped);
    Object.assign(job, { spec: stopped, modifyIndex: index, jobModifyIndex: index, stable: false });
  });
  const evaluation = scheduler.createEval(namespace, jobId, stopped, 'job-deregister', jobModifyIndex);
  const reply = { ...empty, EvalID: evaluation.id, EvalCreateIndex: evaluation.createIndex, JobModifyIndex: jobModifyIndex };
  sendJson(ctx, writeBody(reply, evaluation.createIndex), writeMeta(evaluation.createIndex));
}

/** GET /v1/job/:id/allocations (unknown job: 200 []) */
export async function jobAllocationsEndpoint(ctx: Ctx, jobId: string): Promise<void> {
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const all = boolParamLenient(ctx, 'all');
  const index = await blockingRead(ctx, () => state.jobAllocsIndex(namespace, jobId));
  if (index === null) return;
  const job = state.getJob(namespace, jobId);
  const allocs = state.allocsOfJob(namespace, jobId).filter((a) => all || !job || a.jobCreateIndex === job.createIndex);
  sendJson(ctx, allocs.map(allocStubView), queryMeta(index));
}

function boolParamLenient(ctx: Ctx, name: string): boolean {
  return parseGoBool(ctx.query.get(name) ?? '') ?? false;
}

/** GET /v1/job/:id/evaluations */
export async function jobEvaluationsEndpoint(ctx: Ctx, jobId: string): Promise<void> {
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const index = await blockingRead(ctx, () => state.tables.evals);
  if (index === null) return;
  sendJson(ctx, state.evalsOfJob(namespace, jobId).map(evalView), queryMeta(index));
}

/** GET /v1/job/:id/summary */
export async function jobSummaryEndpoint(ctx: Ctx, jobId: string): Promise<void> {
  const { state } = ctx.rt;
  const namespace = namespaceOf(ctx);
  const index = await blockingRead(ctx, () => Math.max(state.tables.jobs, state.tables.allocs));
  if (index === null) return;
  const job = state.getJob(namespace, jobId);
  if (!job) return sendText(ctx, 404, 'job not found', queryMeta(index));
  sendJson(ctx, jobSummaryView(state, job), queryMeta(index));
}

/** PUT/POST /v1/job/:id/plan: validation, diff type, desired updates and FailedTGAllocs, without side effects. */
export async function jobPlanEndpoint(ctx: Ctx, jobId: string): Promise<void> {
  const { job } = await parseJobRequest(ctx, jobId, 'plan');
  const validation = validateJob(job, ctx.rt.options);
  if (validation.errors.length > 0) throw new HttpError(500, formatMultiError(validation.errors));
  const { state } = ctx.rt;
  const existing = state.getJob(str(job.Namespace), str(job.ID));
  const changed = !existing || specChanged(existing.spec, job);
  const failed: Record<string, Obj> = {};
  const desired: Record<string, Obj> = {};
  const live = existing ? state.allocsOfJob(existing.namespace, existing.id).filter((a) => a.desiredStatus === 'run') : [];
  for (const group of objs(job.TaskGroups)) {
    const name = str(group.Name);
    const running = live.filter((a) => a.group === name).length;
    const count = Number(group.Count ?? 0);
    const place = Math.max(0, count - (changed ? 0 : running));
    desired[name] = {
      Ignore: changed ? 0 : Math.min(running, count),
      Place: job.Stop === true ? 0 : place,
      Migrate: 0,
      Stop: job.Stop === true ? running : Math.max(0, running - count),
      InPlaceUpdate: 0,
      DestructiveUpdate: changed && existing ? Math.min(running, count) : 0,
      Canary: 0,
      Preemptions: 0,
    };
    const blocked = job.Stop === true ? null : infeasible(ctx.rt, job, group);
    if (blocked && place > 0) failed[name] = { ...blocked, CoalescedFailures: place - 1 };
  }
  sendJson(
    ctx,
    {
      JobModifyIndex: existing?.jobModifyIndex ?? 0,
      CreatedEvals: null,
      Diff: { Type: !existing ? 'Added' : changed ? 'Edited' : 'None', ID: str(job.ID), Fields: null, Objects: null, TaskGroups: null },
      Annotations: { DesiredTGUpdates: desired, PreemptedAllocs: null },
      FailedTGAllocs: Object.keys(failed).length > 0 ? failed : null,
      NextPeriodicLaunch: ZERO_TIME,
      Warnings: formatWarnings(validation.warnings),
      Index: state.index,
    },
    writeMeta(state.index),
  );
}
