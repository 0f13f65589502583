import test from 'ava';
import { Testing } from 'cdktf';
import { EdgeStack, ROUTER_ORIGIN } from '../../infra/stacks/edge.ts';
import { MATRIX_ORIGIN } from '../../infra/stacks/parts.ts';
import { inputs, parse } from './_inputs.ts';

const synth = (over: Record<string, string> = {}) => Testing.synth(new EdgeStack(Testing.app(), 'edge', inputs(over)));

test('the zone is looked up by name, and records use its zone id (not its id)', (t) => {
  const out = synth();
  t.true(Testing.toHaveDataSourceWithProperties(out, 'cloudflare_zone', { filter: { name: 'matrix.example.com' } }));
  const records = Object.values(parse(out).resource.cloudflare_dns_record!);
  for (const record of records) t.regex(String(record.zone_id), /^\$\{data\.cloudflare_zone\.zone\.zone_id\}$/);
});

test('a remote-managed tunnel whose ingress sends the apex and every handle to the router, matrix.DOMAIN to Conduit, then a 404 catch-all last', (t) => {
  const out = synth();
  t.true(Testing.toHaveResourceWithProperties(out, 'cloudflare_zero_trust_tunnel_cloudflared', { account_id: 'acc-0123456789', config_src: 'cloudflare' }));
  const config = Object.values(parse(out).resource.cloudflare_zero_trust_tunnel_cloudflared_config!)[0] as {
    config: { ingress: Array<Record<string, string>> };
  };
  t.deepEqual(config.config.ingress, [
    { hostname: 'matrix.example.com', service: ROUTER_ORIGIN },
    // Instances reach the homeserver through the tunnel: their fence keeps them off the host's loopback.
    { hostname: 'matrix.matrix.example.com', service: MATRIX_ORIGIN },
    { hostname: '*.matrix.example.com', service: ROUTER_ORIGIN },
    { service: 'http_status:404' },
  ]);
  t.true(Testing.toHaveDataSource(out, 'cloudflare_zero_trust_tunnel_cloudflared_token'));
});

test('proxied CNAMEs with full names and ttl 1 for the apex and the wildcard, to the tunnel', (t) => {
  const out = synth();
  for (const name of ['matrix.example.com', '*.matrix.example.com'])
    t.true(
      Testing.toHaveResourceWithProperties(out, 'cloudflare_dns_record', {
        name,
        type: 'CNAME',
        proxied: true,
        ttl: 1,
        content: '${cloudflare_zero_trust_tunnel_cloudflared.tunnel.id}.cfargotunnel.com',
      }),
      name,
    );
  t.is(Object.keys(parse(out).resource.cloudflare_dns_record!).length, 2);
});

test('INSTANCE_DOMAIN adds its wildcard: ingress before the catch-all, a CNAME in its own zone', (t) => {
  const out = synth({ INSTANCE_DOMAIN: 'matrix-users.net' });
  const config = Object.values(parse(out).resource.cloudflare_zero_trust_tunnel_cloudflared_config!)[0] as {
    config: { ingress: Array<Record<string, string>> };
  };
  t.deepEqual(
    config.config.ingress.map((rule) => rule.hostname ?? rule.service),
    ['matrix.example.com', 'matrix.matrix.example.com', '*.matrix.example.com', '*.matrix-users.net', 'http_status:404'],
  );
  t.true(Testing.toHaveDataSourceWithProperties(out, 'cloudflare_zone', { filter: { name: 'matrix-users.net' } }));
  t.true(
    Testing.toHaveResourceWithProperties(out, 'cloudflare_dns_record', {
      name: '*.matrix-users.net',
      zone_id: '${data.cloudflare_zone.instance-zone.zone_id}',
      proxied: true,
    }),
  );
});

test('the tunnel token is a sensitive output, and no secret is in the synthesized stack', (t) => {
  const out = synth();
  t.like(parse(out).output!.tunnel_token, { sensitive: true });
  t.notRegex(out, /api_token|CLOUDFLARE_API_TOKEN/);
});
