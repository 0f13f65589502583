/**
 * The three endpoints: POST /v1/messages (JSON or stream, faults applied),
 * POST /v1/messages/count_tokens and GET /v1/models[/{id}].
 */
import { ApiError, invalidRequest, statusFor } from './errors.ts';
import { type Ctx, sendJson, sleep } from './http.ts';
import { DEFAULT_MAX_OUTPUT_TOKENS } from './models.ts';
import { messageBody, resolveReply } from './reply.ts';
import { sendStream, streamLength } from './stream.ts';
import { validateCountTokensBody, validateMessagesBody } from './validate.ts';

/** The parsed JSON body; 400 when there is none or it does not parse. */
function jsonBody(ctx: Ctx): unknown {
  if (ctx.record.rawBody.trim() === '' || ctx.record.body === undefined) {
    throw invalidRequest('There was an error parsing the body of your request as JSON.');
  }
  return ctx.record.body;
}

export async function createMessage(ctx: Ctx): Promise<void> {
  const { state } = ctx;
  const body = validateMessagesBody(jsonBody(ctx));
  const model = state.catalogue.resolve(body.model);
  const max = model.max_output_tokens ?? DEFAULT_MAX_OUTPUT_TOKENS;
  if (body.max_tokens > max) {
    throw invalidRequest(`max_tokens: ${body.max_tokens} > ${max}, which is the maximum allowed number of output tokens for ${model.id}`);
  }
  const fault = state.faults.take();
  if (fault?.kind === 'status') throw new ApiError(fault.status, fault.type, fault.message, fault.headers);
  const plan = state.replies.shift() ?? (await state.respond?.(ctx.record)) ?? {};
  const reply = resolveReply(body, plan, state.replyDefaults, state.ids.message(), state.countTokens(body));
  const u = reply.usage;
  state.rateLimits.noteTokens(u.input_tokens + u.cache_creation_input_tokens, u.output_tokens);
  if (body.stream === true) return sendStream(ctx, reply, fault);

  // Without a stream, a mid-generation failure is a status error, and a slow generation a slow answer.
  if (fault?.kind === 'stream_error') throw new ApiError(statusFor(fault.type), fault.type, fault.message);
  if (fault?.kind === 'slow') await sleep(fault.eventDelayMs * streamLength(reply), ctx.signal);
  if (fault?.kind === 'stall') await fault.gate.hold(undefined, ctx.signal);
  if (ctx.signal.aborted) return;
  await sendJson(ctx, 200, messageBody(reply));
}

export async function countTokens(ctx: Ctx): Promise<void> {
  const body = validateCountTokensBody(jsonBody(ctx));
  ctx.state.catalogue.resolve(body.model);
  await sendJson(ctx, 200, { input_tokens: ctx.state.countTokens(body) });
}

export async function listModels(ctx: Ctx): Promise<void> {
  await sendJson(ctx, 200, ctx.state.catalogue.list(ctx.url.searchParams));
}

export async function getModel(ctx: Ctx, id: string): Promise<void> {
  const { catalogue } = ctx.state;
  await sendJson(ctx, 200, catalogue.view(catalogue.resolve(id)));
}
