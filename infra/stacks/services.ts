/**
 * services: the platform's own Nomad jobs (control, cloudflared, conduit), built by the
 * same jobs/ builders the control service uses, and their secrets as Nomad Variables at
 * each job's own path: the jobspecs hold no secret. Terraform reaches Nomad through an
 * SSH tunnel to the host (NOMAD_ADDR, default http://127.0.0.1:4646) with NOMAD_TOKEN.
 *
 * Secret inputs are Terraform variables (TF_VAR_<name> or a tfvars file), never synth-time
 * values: the synthesized JSON holds references only.
 */
import { Job } from '@cdktf/provider-nomad/lib/job/index.js';
import { NomadProvider } from '@cdktf/provider-nomad/lib/provider/index.js';
import { Variable } from '@cdktf/provider-nomad/lib/variable/index.js';
import { TerraformOutput, TerraformStack, TerraformVariable } from 'cdktf';
import type { Construct } from 'constructs';
import { buildCloudflaredJob, CLOUDFLARED_JOB_ID } from '../../jobs/cloudflared.ts';
import { jobVariablePath } from '../../jobs/common.ts';
import { buildConduitJob, CONDUIT_JOB_ID } from '../../jobs/conduit.ts';
import { buildControlJob, CONTROL_JOB_ID } from '../../jobs/control.ts';
import type { NomadJob } from '../../jobs/types.ts';
import { PLATFORM_HOST_VOLUME } from '../cloud-init.ts';
import type { Inputs } from '../inputs.ts';
import { MATRIX_ORIGIN, matrixHost } from './parts.ts';

/** The control service's secrets, each a sensitive Terraform variable of the same name in lower case. */
export const CONTROL_SECRETS = ['PLATFORM_SECRET', 'SECRET_KEY', 'ANTHROPIC_API_KEY', 'OIDC_CLIENT_SECRET', 'MATRIX_REGISTRATION_TOKEN'] as const;

/** The jobspec as `nomad job run -output` prints it, which the provider takes with json = true. */
export function jobspec(job: NomadJob): string {
  return JSON.stringify({ Job: job });
}

export interface ServicesInputs extends Pick<Inputs, 'domain' | 'instanceDomain' | 'controlImage' | 'instanceImage' | 'cloudflaredImage' | 'conduitImage'> {
  /** The tunnel's token (the edge stack's output, or a reference to it). */
  tunnelToken: string;
  /** Where the OpenID provider is (OIDC_ISSUER); unset: set it later in the job. */
  oidcIssuer?: string;
  adminEmails?: string;
}

export class ServicesStack extends TerraformStack {
  readonly jobs: { control: NomadJob; cloudflared: NomadJob; conduit: NomadJob };

  constructor(scope: Construct, id: string, inputs: ServicesInputs) {
    super(scope, id);
    // Nomad listens on the host's loopback: deploy through `ssh -N -L 4646:127.0.0.1:4646 root@<host>`.
    // The token comes from NOMAD_TOKEN at deploy time.
    const address = new TerraformVariable(this, 'nomad_addr', {
      type: 'string',
      default: 'http://127.0.0.1:4646',
      description: "Nomad's HTTP API, through the SSH tunnel",
    });
    new NomadProvider(this, 'nomad', { address: address.stringValue });
    const secret = (name: string) =>
      new TerraformVariable(this, name.toLowerCase(), {
        type: 'string',
        sensitive: true,
        nullable: false,
        description: `${name} of the control service`,
        // Only the OpenID client secret may be left out (a provider without one, or GitHub later).
        ...(name === 'OIDC_CLIENT_SECRET' ? { default: '' } : {}),
      });

    const control = buildControlJob({
      image: inputs.controlImage,
      hostNetwork: true,
      dataHostVolume: PLATFORM_HOST_VOLUME,
      env: {
        PLATFORM_MODE: 'production',
        ORCHESTRATOR: 'nomad',
        NOMAD_ADDR: 'http://127.0.0.1:4646',
        DOMAIN: inputs.domain,
        PUBLIC_URL: `https://${inputs.domain}`,
        ...(inputs.instanceDomain ? { INSTANCE_DOMAIN: inputs.instanceDomain } : {}),
        INSTANCE_IMAGE: inputs.instanceImage,
        TRUSTED_PROXIES: '127.0.0.1',
        // Conduit (the conduit job): the control service on the host's loopback, instances through the tunnel.
        MATRIX_HOMESERVER_URL: MATRIX_ORIGIN,
        MATRIX_INSTANCE_HOMESERVER_URL: `https://${matrixHost(inputs.domain)}`,
        MATRIX_SERVER_NAME: inputs.domain,
        ...(inputs.oidcIssuer ? { OIDC_ISSUER: inputs.oidcIssuer } : {}),
        ...(inputs.adminEmails ? { ADMIN_EMAILS: inputs.adminEmails } : {}),
      },
      variableSecrets: [...CONTROL_SECRETS, 'NOMAD_TOKEN'],
    });
    const cloudflared = buildCloudflaredJob({ image: inputs.cloudflaredImage, tokenFromVariable: true });
    const conduit = buildConduitJob({ image: inputs.conduitImage, serverName: inputs.domain, registrationTokenFromVariable: true });
    this.jobs = { control, cloudflared, conduit };

    const controlSecrets: Record<string, string> = {};
    for (const name of CONTROL_SECRETS) controlSecrets[name] = secret(name).stringValue;
    // The control service drives instance jobs with a token of its own (docs/deployment.md: its policy).
    controlSecrets.NOMAD_TOKEN = secret('CONTROL_NOMAD_TOKEN').stringValue;
    const registration = controlSecrets.MATRIX_REGISTRATION_TOKEN!;

    const variables = [
      new Variable(this, 'control-secrets', { path: jobVariablePath(CONTROL_JOB_ID), items: controlSecrets }),
      new Variable(this, 'cloudflared-secrets', { path: jobVariablePath(CLOUDFLARED_JOB_ID), items: { TUNNEL_TOKEN: inputs.tunnelToken } }),
      new Variable(this, 'conduit-secrets', { path: jobVariablePath(CONDUIT_JOB_ID), items: { CONDUIT_REGISTRATION_TOKEN: registration } }),
    ];
    // The variables first: a task that starts before its secrets exist would fail its template.
    for (const [name, job] of Object.entries(this.jobs))
      new Job(this, `${name}-job`, { jobspec: jobspec(job), json: true, purgeOnDestroy: false, dependsOn: variables });
    new TerraformOutput(this, 'jobs', { value: Object.values(this.jobs).map((job) => job.ID) });
  }
}
