/**
 * The CDKTF app: `npm run synth` (offline; no Terraform needed) and `cdktf deploy
 * <stack>` (operators, with cdktf-cli: docs/deployment.md). MXOS_DEPLOYMENT picks the
 * stacks: `platform` (default: edge, host, services) or `single` (one person's server).
 */
import { App } from 'cdktf';
import { InfraInputError, PLATFORM_STACKS, readInputs, type StackName } from './inputs.ts';
import { EdgeStack } from './stacks/edge.ts';
import { HostStack } from './stacks/host.ts';
import { ServicesStack } from './stacks/services.ts';
import { SingleStack } from './stacks/single.ts';

export function buildApp(env: Record<string, string | undefined>, outdir?: string): App {
  const deployment = env.MXOS_DEPLOYMENT ?? 'platform';
  if (deployment !== 'platform' && deployment !== 'single') throw new InfraInputError([`MXOS_DEPLOYMENT must be platform or single, got "${deployment}"`]);
  const stacks: readonly StackName[] = deployment === 'single' ? ['single'] : PLATFORM_STACKS;
  const inputs = readInputs(env, stacks);
  const app = new App(outdir ? { outdir } : {});
  if (deployment === 'single') {
    new SingleStack(app, 'single', inputs);
    return app;
  }
  const edge = new EdgeStack(app, 'edge', inputs);
  new HostStack(app, 'host', inputs);
  // The services stack takes the tunnel token from the edge stack's state (a cross-stack reference).
  new ServicesStack(app, 'services', {
    ...inputs,
    tunnelToken: edge.tunnelToken,
    oidcIssuer: env.OIDC_ISSUER,
    adminEmails: env.ADMIN_EMAILS,
  });
  return app;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    // CDKTF_OUTDIR: where to write (default cdktf.out, as cdktf-cli expects).
    buildApp(process.env, process.env.CDKTF_OUTDIR).synth();
  } catch (err) {
    if (!(err instanceof InfraInputError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}
