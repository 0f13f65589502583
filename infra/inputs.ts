/**
 * What the stacks need to know at synth time, from the environment (names below), each
 * missing or bad one named in one error. Secrets are not read here: they are Terraform
 * variables (`TF_VAR_*` or a tfvars file at deploy), so they never land in cdktf.out.
 */
export class InfraInputError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot synthesize the stacks:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'InfraInputError';
  }
}

export type StackName = 'edge' | 'host' | 'services' | 'single';
export const PLATFORM_STACKS: readonly StackName[] = ['edge', 'host', 'services'];

export interface Inputs {
  /** The platform's domain: the site at the apex, instances at {handle}.DOMAIN. */
  domain: string;
  /** Instances on a registrable domain of their own (INSTANCE_DOMAIN), or null. */
  instanceDomain: string | null;
  cloudflareAccountId: string;
  /** DigitalOcean region and sizes. */
  region: string;
  dropletSize: string;
  volumeSizeGb: number;
  /** The operator's SSH public key, the only way in besides the tunnel. */
  sshPublicKey: string;
  /** Who may reach SSH (CIDRs). Default everywhere; narrow it. */
  sshAllowedCidrs: string[];
  /** Images (pin a tag or digest). */
  controlImage: string;
  instanceImage: string;
  cloudflaredImage: string;
  conduitImage: string;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** Reads the inputs the named stacks need; throws InfraInputError naming every problem. */
export function readInputs(env: Record<string, string | undefined>, stacks: readonly StackName[]): Inputs {
  const problems: string[] = [];
  const need = (name: string, what: string, used: boolean): string => {
    const value = env[name]?.trim() ?? '';
    if (used && value === '') problems.push(`${name} is required: ${what}`);
    return value;
  };
  const uses = (...names: StackName[]) => names.some((n) => stacks.includes(n));
  const domain = need('DOMAIN', 'the domain whose zone is on Cloudflare, e.g. matrix.example.com', true).toLowerCase();
  if (domain && !HOSTNAME.test(domain)) problems.push(`DOMAIN must be a domain name like example.com, got "${domain}"`);
  const instanceDomain = env.INSTANCE_DOMAIN?.trim().toLowerCase() || null;
  if (instanceDomain && !HOSTNAME.test(instanceDomain)) problems.push(`INSTANCE_DOMAIN must be a domain name, got "${instanceDomain}"`);
  const volume = Number(env.VOLUME_SIZE_GB ?? '100');
  if (!Number.isInteger(volume) || volume < 10 || volume > 16_384)
    problems.push(`VOLUME_SIZE_GB must be a whole number of GB from 10 to 16384, got "${env.VOLUME_SIZE_GB}"`);
  const inputs: Inputs = {
    domain,
    instanceDomain,
    cloudflareAccountId: need('CLOUDFLARE_ACCOUNT_ID', 'the Cloudflare account that owns the zone (dashboard, right column)', uses('edge', 'single')),
    region: env.DO_REGION?.trim() || 'fra1',
    dropletSize: env.DO_DROPLET_SIZE?.trim() || (stacks.includes('single') ? 's-1vcpu-2gb' : 's-4vcpu-8gb'),
    volumeSizeGb: volume,
    sshPublicKey: need('SSH_PUBLIC_KEY', 'your SSH public key (ssh-ed25519 AAAA…), the only way onto the server', uses('host', 'single')),
    sshAllowedCidrs: (env.SSH_ALLOWED_CIDRS?.trim() || '0.0.0.0/0,::/0').split(',').map((c) => c.trim()),
    controlImage: need('CONTROL_IMAGE', 'the control service image with a pinned tag, e.g. ghcr.io/you/matrixos-control:1.0.0', uses('services')),
    instanceImage: need('INSTANCE_IMAGE', 'the instance image with a pinned tag, e.g. ghcr.io/you/matrixos-instance:1.0.0', uses('services', 'single')),
    cloudflaredImage: env.CLOUDFLARED_IMAGE?.trim() || 'cloudflare/cloudflared:2025.11.1',
    conduitImage: env.CONDUIT_IMAGE?.trim() || 'matrixconduit/matrix-conduit:v0.10.9',
  };
  if (inputs.sshPublicKey && !/^(ssh-(ed25519|rsa)|ecdsa-sha2-\S+) [A-Za-z0-9+/=]+/.test(inputs.sshPublicKey))
    problems.push('SSH_PUBLIC_KEY must be an OpenSSH public key line (ssh-ed25519 AAAA…)');
  if (problems.length > 0) throw new InfraInputError(problems);
  return inputs;
}
