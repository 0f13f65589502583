/**
 * Builds the InstanceSpec for one user from config and the instance row: the one
 * place that decides what an instance gets. Drivers add only what is theirs
 * (ports on the host, where the volume is mounted).
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { deriveCredential } from '../access/credentials.ts';
import type { Config } from '../config.ts';
import { listenerUrl } from '../config-meter.ts';
import type { InstanceSpec } from './types.ts';

const GATEWAY_PORT = 4000;
export const SHELL_PORT = 3000;

export interface SpecInput {
  handle: string;
  owner: string;
  tokenGeneration: number;
  /** The AI's Matrix account, once registered (the instance uses it with matrix-js-sdk or plain HTTP). */
  matrix?: { homeserverUrl: string; userId: string; deviceId: string; accessToken: string } | null;
}

function userDataPath(dataDir: string, handle: string): string {
  return path.join(dataDir, 'users', handle, 'matrixos');
}

export function buildInstanceSpec(config: Config, secretKey: string, input: SpecInput): InstanceSpec {
  const { handle, owner, tokenGeneration, matrix } = input;
  const meterUrl = config.meterUrl ?? listenerUrl(config.meter);
  const body: Omit<InstanceSpec, 'hash'> = {
    handle,
    owner,
    image: config.instance.image,
    command: config.instance.command,
    ports: { gateway: GATEWAY_PORT, shell: SHELL_PORT },
    cpu: config.instance.cpu,
    memoryMB: config.instance.memoryMB,
    volumePath: userDataPath(config.dataDir, handle),
    env: {
      MATRIX_HANDLE: handle,
      PLATFORM_MODE: config.mode,
      // Where the instance's own page links back to (the dashboard).
      MATRIXOS_PLATFORM_URL: config.public.url,
      ANTHROPIC_BASE_URL: meterUrl,
      // The platform's social API for instances shares the meter's listener (the one platform port instances reach).
      MATRIXOS_SOCIAL_URL: config.social.instanceUrl ?? `${meterUrl.replace(/\/+$/, '')}/social`,
      ...(matrix ? { MATRIX_HOMESERVER_URL: matrix.homeserverUrl, MATRIX_USER_ID: matrix.userId, MATRIX_DEVICE_ID: matrix.deviceId } : {}),
    },
    secrets: {
      // The router authenticates to the instance with this; users hold a separate, rotatable token.
      MATRIX_AUTH_TOKEN: deriveCredential(secretKey, 'router-token', handle, tokenGeneration),
      ANTHROPIC_API_KEY: deriveCredential(secretKey, 'meter-key', handle, tokenGeneration),
      MATRIXOS_SOCIAL_TOKEN: deriveCredential(secretKey, 'social-key', handle, tokenGeneration),
      ...(matrix ? { MATRIX_ACCESS_TOKEN: matrix.accessToken } : {}),
    },
  };
  return { ...body, hash: hashSpec(body) };
}

/** Stable hash: keys sorted at every level so property order never matters. */
export function hashSpec(body: Omit<InstanceSpec, 'hash'>): string {
  return crypto.createHash('sha256').update(canonicalJson(body)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}
