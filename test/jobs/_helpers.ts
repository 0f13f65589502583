/** Fixtures and JSON walkers shared by the job builder tests (not a test file itself). */
import type { InstanceSpec } from '../../control/orchestrator/types.ts';
import type { InstanceJobOptions } from '../../jobs/instance.ts';

export const SECRET_TOKEN = 'tok_9f2c4e0a-instance-secret';
export const SECRET_KEY = 'sk-meter-7b1d-very-secret';

export function sampleSpec(overrides: Partial<InstanceSpec & { owner: string }> = {}): InstanceSpec & { owner: string } {
  return {
    handle: 'alice',
    owner: 'user-42',
    image: 'ghcr.io/hamedmp/matrix-os:1.2.3',
    command: null,
    ports: { gateway: 4000, shell: 3000 },
    cpu: 0.5,
    memoryMB: 256,
    volumePath: '/srv/matrixos/users/alice/matrixos',
    env: { MATRIX_HANDLE: 'alice', PLATFORM_MODE: 'production', ANTHROPIC_BASE_URL: 'http://10.0.0.5:8080' },
    secrets: { MATRIX_AUTH_TOKEN: SECRET_TOKEN, ANTHROPIC_API_KEY: SECRET_KEY },
    hash: 'a'.repeat(64),
    ...overrides,
  };
}

export function sampleOptions(overrides: Partial<InstanceJobOptions> = {}): InstanceJobOptions {
  return {
    namespace: 'matrixos',
    datacenters: ['*'],
    cpuMhzPerCore: 2000,
    memoryMaxMB: null,
    volume: { mode: 'docker-volume' },
    homePath: '/home/matrixos',
    ...overrides,
  };
}

/** Every string (keys included) in a JSON value, with its path: `a.b[0].c` for values, `a.b{key}` for keys. */
export function* stringsIn(value: unknown, path = ''): Generator<[path: string, text: string]> {
  if (typeof value === 'string') yield [path, value];
  else if (Array.isArray(value)) for (const [i, item] of value.entries()) yield* stringsIn(item, `${path}[${i}]`);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield [`${path}{${key}}`, key];
      yield* stringsIn(item, path ? `${path}.${key}` : key);
    }
  }
}

/** Paths of the strings that contain any of the given secret values. */
export function pathsContaining(value: unknown, secrets: string[]): string[] {
  return [...stringsIn(value)].filter(([, text]) => secrets.some((s) => text.includes(s))).map(([path]) => path);
}

/** The value as Nomad receives it. */
export function asJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
