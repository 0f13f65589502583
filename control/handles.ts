/**
 * Handle rules. A handle becomes a DNS label ({handle}.DOMAIN), a Nomad job id
 * (matrixos-{handle}) and a Matrix user id (@handle), so the rules are strict.
 */
import { ValidationError } from './errors.ts';

export const HANDLE_MIN = 3;
export const HANDLE_MAX = 32;
const HANDLE_PATTERN = /^[a-z][a-z0-9-]*[a-z0-9]$/;

/** Names that would collide with platform hosts, routes or well-known accounts. */
export const RESERVED_HANDLES: ReadonlySet<string> = new Set([
  'www',
  'api',
  'admin',
  'administrator',
  'app',
  'apps',
  'auth',
  'login',
  'logout',
  'signup',
  'oauth',
  'oidc',
  'sso',
  'mail',
  'email',
  'smtp',
  'imap',
  'pop',
  'mx',
  'ns',
  'ns1',
  'ns2',
  'dns',
  'ftp',
  'ssh',
  'vpn',
  'matrix',
  'conduit',
  'synapse',
  'element',
  'proxy',
  'platform',
  'control',
  'meter',
  'billing',
  'nomad',
  'consul',
  'static',
  'assets',
  'cdn',
  'media',
  'files',
  'status',
  'health',
  'metrics',
  'docs',
  'help',
  'support',
  'about',
  'root',
  'system',
  'sys',
  'operator',
  'ops',
  'dashboard',
  'community',
  'profile',
  'profiles',
  'settings',
  'account',
  'dev',
  'test',
  'staging',
  'prod',
  'local',
  'localhost',
  'internal',
  'null',
  'undefined',
  'anonymous',
  'everyone',
  'security',
  'abuse',
  'postmaster',
  'hostmaster',
  'webmaster',
  'noreply',
  'no-reply',
  'matrixos',
  'matrix-os',
  'ai',
  'bot',
]);

type HandleProblem = { rule: string; message: string };

/** Returns the first rule the handle breaks, or null when it is valid. */
export function checkHandle(handle: unknown): HandleProblem | null {
  if (typeof handle !== 'string' || handle.length === 0) {
    return { rule: 'required', message: 'handle is required: 3 to 32 characters, lowercase letters, digits and hyphens' };
  }
  if (handle.length < HANDLE_MIN || handle.length > HANDLE_MAX) {
    return { rule: 'length', message: `handle must be ${HANDLE_MIN} to ${HANDLE_MAX} characters long (got ${handle.length})` };
  }
  if (!HANDLE_PATTERN.test(handle)) {
    return {
      rule: 'pattern',
      message: 'handle must start with a lowercase letter, end with a letter or digit, and contain only lowercase letters, digits and hyphens',
    };
  }
  if (handle.includes('--')) return { rule: 'double-hyphen', message: 'handle must not contain two hyphens in a row ("--")' };
  if (RESERVED_HANDLES.has(handle)) return { rule: 'reserved', message: `handle "${handle}" is reserved by the platform: choose another` };
  return null;
}

export function assertValidHandle(handle: unknown): string {
  const problem = checkHandle(handle);
  if (problem) throw new ValidationError(problem.message, { detail: `handle rule: ${problem.rule}` });
  return handle as string;
}
