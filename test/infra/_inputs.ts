import { type Inputs, PLATFORM_STACKS, readInputs, type StackName } from '../../infra/inputs.ts';

/** Inputs as an operator's environment would give them. */
export const ENV = {
  DOMAIN: 'matrix.example.com',
  CLOUDFLARE_ACCOUNT_ID: 'acc-0123456789',
  SSH_PUBLIC_KEY: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyForTests operator@laptop',
  CONTROL_IMAGE: 'ghcr.io/example/matrixos-control:1.2.3',
  INSTANCE_IMAGE: 'ghcr.io/example/matrixos-instance:1.2.3',
};

export function inputs(over: Record<string, string> = {}, stacks: readonly StackName[] = PLATFORM_STACKS): Inputs {
  return readInputs({ ...ENV, ...over }, stacks);
}

/** The synthesized stack as an object. */
export function parse(synthesized: string): {
  resource: Record<string, Record<string, Record<string, unknown>>>;
  data?: Record<string, Record<string, Record<string, unknown>>>;
  variable?: Record<string, Record<string, unknown>>;
  output?: Record<string, Record<string, unknown>>;
} {
  return JSON.parse(synthesized);
}
