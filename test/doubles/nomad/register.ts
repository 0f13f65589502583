/**
 * Job registration (PUT/POST /v1/jobs and /v1/job/:id) and the shared body
 * handling of plans: the HTTP layer's 400s, then the server's 500s
 * (validation, namespace, EnforceIndex), then the write and the evaluation.
 * Every registration attempt is recorded in rt.registrations.
 */
import { canonicalizeJob, isObj, specChanged, str } from './canonicalize.ts';
import { decodeStruct } from './godecode.ts';
import { formatMultiError, formatWarnings } from './goformat.ts';
import { GoJsonSyntaxError, parseGoJson } from './gojson.ts';
import { authorize, type Ctx, checkRegion, HttpError, methodIs, readBody, sendJson, writeBody, writeMeta } from './http-kit.ts';
import type { Scheduler } from './scheduler.ts';
import { jobKey, nowNs } from './state.ts';
import type { JobRecord, Obj, RegistrationReport } from './types.ts';
import { driverConfigReport, validateJob } from './validate.ts';

export interface ParsedJobRequest {
  request: Obj;
  /** Canonical job (defaults applied, namespace and region resolved). */
  job: Obj;
  unknownKeys: string[];
}

/** Body handling shared by register and plan; throws HttpError like Nomad's HTTP layer. */
export async function parseJobRequest(ctx: Ctx, pathId: string | null, kind: 'register' | 'plan', unknown: string[] = []): Promise<ParsedJobRequest> {
  methodIs(ctx, 'PUT', 'POST');
  const text = await readBody(ctx);
  if (text === null) throw new HttpError(400, 'Request body is empty');
  let node: ReturnType<typeof parseGoJson>;
  try {
    node = parseGoJson(text);
  } catch (err) {
    if (err instanceof GoJsonSyntaxError) throw new HttpError(400, err.message);
    throw err;
  }
  const decoded = decodeStruct('JobRegisterRequest', node);
  const planKeys = new Set(['diff', 'policyoverride']);
  unknown.push(...decoded.unknownKeys.filter((k) => kind === 'register' || !planKeys.has(k.toLowerCase())));
  if (decoded.error) throw new HttpError(400, decoded.error);
  const request = decoded.value ?? {};
  const job = request.Job;
  if (!isObj(job)) throw new HttpError(400, 'Job must be specified');
  if (job.ID === undefined || job.ID === null) throw new HttpError(400, kind === 'register' ? "Job ID hasn't been provided" : 'Job must have a valid ID');
  if (pathId !== null && job.ID !== pathId) throw new HttpError(400, kind === 'register' ? 'Job ID does not match name' : 'Job ID does not match');
  if (job.Type === 'system' && Array.isArray(job.TaskGroups) && job.TaskGroups.some((g) => isObj(g) && isObj(g.Scaling))) {
    throw new HttpError(400, 'Task groups with job type system do not support scaling blocks');
  }
  const priority = typeof request.EvalPriority === 'number' ? request.EvalPriority : 0;
  if (priority !== 0 && (priority < 1 || priority > 100)) throw new HttpError(400, 'Eval priority must be between 1 and 100 inclusively');
  // regionForJob / namespaceForJob: query parameter, then request body, then the job.
  const region = ctx.query.get('region') || str(request.Region) || str(job.Region) || 'global';
  checkRegion(ctx, region);
  authorize(ctx, true);
  const namespace = ctx.query.get('namespace') || str(request.Namespace) || str(job.Namespace) || 'default';
  const canonical = canonicalizeJob(job, { namespace, region: region === 'global' ? ctx.rt.options.region : region });
  return { request, job: canonical, unknownKeys: unknown };
}

/** EnforceIndex / JobModifyIndex check of Job.Register. */
function enforceIndex(request: Obj, existing: JobRecord | undefined): void {
  if (request.EnforceIndex !== true) return;
  const jmi = typeof request.JobModifyIndex === 'number' ? request.JobModifyIndex : 0;
  const prefix = 'Enforcing job modify index';
  if (existing) {
    if (jmi === 0) throw new HttpError(500, `${prefix} 0: job already exists`);
    if (jmi !== existing.jobModifyIndex) throw new HttpError(500, `${prefix} ${jmi}: job exists with conflicting job modify index: ${existing.jobModifyIndex}`);
  } else if (jmi !== 0) {
    throw new HttpError(500, `${prefix} ${jmi}: job does not exist`);
  }
}

/** Stores the job unless its spec is unchanged; returns the JobModifyIndex to report. */
function storeJob(ctx: Ctx, job: Obj): number {
  const { state } = ctx.rt;
  const namespace = str(job.Namespace);
  const id = str(job.ID);
  const existing = state.getJob(namespace, id);
  if (existing && !specChanged(existing.spec, job)) return existing.jobModifyIndex;
  let jobModifyIndex = 0;
  state.write(['jobs'], (index) => {
    jobModifyIndex = index;
    if (existing) {
      existing.version += 1;
      Object.assign(existing, { spec: job, modifyIndex: index, jobModifyIndex: index, submitTime: nowNs(), stable: false });
      existing.versions.set(existing.version, job);
      return;
    }
    const record: JobRecord = {
      namespace,
      id,
      spec: job,
      version: 0,
      status: 'pending',
      stable: false,
      submitTime: nowNs(),
      createIndex: index,
      modifyIndex: index,
      jobModifyIndex: index,
      versions: new Map([[0, job]]),
    };
    state.jobs.set(jobKey(namespace, id), record);
  });
  return jobModifyIndex;
}

export async function registerJob(ctx: Ctx, scheduler: Scheduler, pathId: string | null): Promise<void> {
  const report: RegistrationReport = {
    jobId: null,
    namespace: ctx.query.get('namespace') || 'default',
    unknownKeys: [],
    driverConfigErrors: [],
    warnings: '',
    status: 0,
    error: '',
  };
  ctx.rt.registrations.push(report);
  try {
    const parsed = await parseJobRequest(ctx, pathId, 'register', report.unknownKeys);
    const { job, request } = parsed;
    Object.assign(report, { jobId: str(job.ID), namespace: str(job.Namespace), driverConfigErrors: driverConfigReport(job) });
    const validation = validateJob(job, ctx.rt.options);
    if (validation.errors.length > 0) throw new HttpError(500, formatMultiError(validation.errors));
    enforceIndex(request, ctx.rt.state.getJob(str(job.Namespace), str(job.ID)));
    const jobModifyIndex = storeJob(ctx, job);
    const evaluation = scheduler.createEval(str(job.Namespace), str(job.ID), job, 'job-register', jobModifyIndex);
    report.warnings = formatWarnings(validation.warnings);
    report.status = 200;
    const reply = { EvalID: evaluation.id, EvalCreateIndex: evaluation.createIndex, JobModifyIndex: jobModifyIndex, Warnings: report.warnings };
    sendJson(ctx, writeBody(reply, evaluation.createIndex), writeMeta(evaluation.createIndex));
  } catch (err) {
    if (err instanceof HttpError) Object.assign(report, { status: err.status, error: err.message });
    throw err;
  }
}
