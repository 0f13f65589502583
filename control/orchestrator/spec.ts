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

interface SpecInput {
  handle: string;
  owner: string;
  tokenGeneration: number;
}

function userDataPath(dataDir: string, handle: string): string {
  return path.join(dataDir, 'users', handle, 'matrixos');
}

export function buildInstanceSpec(config: Config, secretKey: string, input: SpecInput): InstanceSpec {
  const { handle, owner, tokenGeneration } = input;
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
      ANTHROPIC_BASE_URL: config.meterUrl ?? listenerUrl(config.meter),
    },
    secrets: {
      // The router authenticates to the instance with this; users hold a separate, rotatable token.
      MATRIX_AUTH_TOKEN: deriveCredential(secretKey, 'router-token', handle, tokenGeneration),
      ANTHROPIC_API_KEY: deriveCredential(secretKey, 'meter-key', handle, tokenGeneration),
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
