/**
 * Request-body validation of /v1/messages and /v1/messages/count_tokens, with
 * the API's pydantic-style messages ("max_tokens: Field required",
 * "foo: Extra inputs are not permitted"). The first problem found is the one
 * reported, as the API does.
 */
import { invalidRequest } from './errors.ts';

type Obj = Record<string, unknown>;

export interface CountTokensBody extends Obj {
  model: string;
  messages: Obj[];
  system?: unknown;
  tools?: unknown[];
}

export interface MessagesBody extends CountTokensBody {
  max_tokens: number;
  stream?: boolean;
  stop_sequences?: string[];
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Fields both endpoints take. Beta-only fields are accepted without checking the beta header. */
const SHARED_FIELDS = [
  'model',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'thinking',
  'mcp_servers',
  'context_management',
  'output_config',
  'output_format',
];
const MESSAGES_FIELDS = new Set([
  ...SHARED_FIELDS,
  'max_tokens',
  'metadata',
  'stop_sequences',
  'stream',
  'temperature',
  'top_k',
  'top_p',
  'service_tier',
  'container',
  'inference_geo',
]);
const COUNT_FIELDS = new Set(SHARED_FIELDS);

const EMPTY_CONTENT = 'all messages must have non-empty content except for the optional final assistant message';

export function validateMessagesBody(body: unknown): MessagesBody {
  const b = common(body);
  checkMaxTokens(b.max_tokens);
  if (b.stream !== undefined && typeof b.stream !== 'boolean') throw invalidRequest('stream: Input should be a valid boolean');
  checkRange(b, 'temperature', 0, 1);
  checkRange(b, 'top_p', 0, 1);
  if (b.top_k !== undefined && (typeof b.top_k !== 'number' || !Number.isInteger(b.top_k) || b.top_k < 0))
    throw invalidRequest('top_k: Input should be a valid integer greater than or equal to 0');
  if (b.stop_sequences !== undefined) {
    if (!Array.isArray(b.stop_sequences)) throw invalidRequest('stop_sequences: Input should be a valid list');
    b.stop_sequences.forEach((s, i) => {
      if (typeof s !== 'string') throw invalidRequest(`stop_sequences.${i}: Input should be a valid string`);
    });
  }
  if (b.metadata !== undefined && b.metadata !== null) {
    if (!isObj(b.metadata)) throw invalidRequest('metadata: Input should be a valid dictionary');
    for (const key of Object.keys(b.metadata)) if (key !== 'user_id') throw invalidRequest(`metadata.${key}: Extra inputs are not permitted`);
  }
  extras(b, MESSAGES_FIELDS);
  return b as MessagesBody;
}

export function validateCountTokensBody(body: unknown): CountTokensBody {
  const b = common(body);
  extras(b, COUNT_FIELDS);
  return b as CountTokensBody;
}

function common(body: unknown): Obj {
  if (!isObj(body)) throw invalidRequest('Input should be a valid dictionary');
  if (body.model === undefined) throw invalidRequest('model: Field required');
  if (typeof body.model !== 'string') throw invalidRequest('model: Input should be a valid string');
  checkMessages(body.messages);
  checkSystem(body.system);
  checkTools(body.tools);
  return body;
}

function extras(body: Obj, allowed: Set<string>): void {
  for (const key of Object.keys(body)) if (!allowed.has(key)) throw invalidRequest(`${key}: Extra inputs are not permitted`);
}

function checkMaxTokens(v: unknown): void {
  if (v === undefined) throw invalidRequest('max_tokens: Field required');
  if (typeof v !== 'number') throw invalidRequest('max_tokens: Input should be a valid integer');
  if (!Number.isInteger(v)) throw invalidRequest('max_tokens: Input should be a valid integer, got a number with a fractional part');
  if (v < 1) throw invalidRequest('max_tokens: Input should be greater than or equal to 1');
}

function checkRange(b: Obj, field: string, min: number, max: number): void {
  const v = b[field];
  if (v === undefined) return;
  if (typeof v !== 'number') throw invalidRequest(`${field}: Input should be a valid number`);
  if (v < min) throw invalidRequest(`${field}: Input should be greater than or equal to ${min}`);
  if (v > max) throw invalidRequest(`${field}: Input should be less than or equal to ${max}`);
}

function checkMessages(v: unknown): void {
  if (v === undefined) throw invalidRequest('messages: Field required');
  if (!Array.isArray(v)) throw invalidRequest('messages: Input should be a valid list');
  if (v.length === 0) throw invalidRequest('messages: at least one message is required');
  v.forEach((m: unknown, i) => {
    const at = `messages.${i}`;
    if (!isObj(m)) throw invalidRequest(`${at}: Input should be a valid dictionary`);
    if (m.role === undefined) throw invalidRequest(`${at}.role: Field required`);
    if (m.role !== 'user' && m.role !== 'assistant') throw invalidRequest(`${at}.role: Input should be 'user' or 'assistant'`);
    if (m.content === undefined) throw invalidRequest(`${at}.content: Field required`);
    for (const key of Object.keys(m)) if (key !== 'role' && key !== 'content') throw invalidRequest(`${at}.${key}: Extra inputs are not permitted`);
    const finalAssistant = i === v.length - 1 && m.role === 'assistant';
    if (typeof m.content === 'string') {
      if (m.content === '' && !finalAssistant) throw invalidRequest(`${at}: ${EMPTY_CONTENT}`);
      return;
    }
    if (!Array.isArray(m.content)) throw invalidRequest(`${at}.content: Input should be a valid string or a valid list`);
    if (m.content.length === 0 && !finalAssistant) throw invalidRequest(`${at}: ${EMPTY_CONTENT}`);
    m.content.forEach((block: unknown, j) => {
      checkBlock(block, `${at}.content.${j}`);
    });
  });
}

function checkBlock(block: unknown, at: string): void {
  if (!isObj(block)) throw invalidRequest(`${at}: Input should be a valid dictionary`);
  if (typeof block.type !== 'string') throw invalidRequest(`${at}.type: Field required`);
  if (block.type !== 'text') return;
  if (typeof block.text !== 'string') throw invalidRequest(`${at}.text: Field required`);
  if (block.text === '') throw invalidRequest('messages: text content blocks must be non-empty');
}

function checkSystem(v: unknown): void {
  if (v === undefined || typeof v === 'string') return;
  if (!Array.isArray(v)) throw invalidRequest('system: Input should be a valid string or a valid list');
  v.forEach((block: unknown, i) => {
    if (!isObj(block) || block.type !== 'text') throw invalidRequest(`system.${i}.type: Input should be 'text'`);
    if (typeof block.text !== 'string') throw invalidRequest(`system.${i}.text: Field required`);
    if (block.text === '') throw invalidRequest('system: text content blocks must be non-empty');
  });
}

function checkTools(v: unknown): void {
  if (v === undefined) return;
  if (!Array.isArray(v)) throw invalidRequest('tools: Input should be a valid list');
  v.forEach((tool: unknown, i) => {
    if (!isObj(tool)) throw invalidRequest(`tools.${i}: Input should be a valid dictionary`);
    // Server tools (web_search_20250305, …) carry a versioned type; custom tools need a name and a schema.
    if (tool.type !== undefined && tool.type !== 'custom') return;
    if (typeof tool.name !== 'string') throw invalidRequest(`tools.${i}.custom.name: Field required`);
    if (!isObj(tool.input_schema)) throw invalidRequest(`tools.${i}.custom.input_schema: Field required`);
  });
}
