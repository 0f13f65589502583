import test from 'ava';
import { Testing } from 'cdktf';
import { SINGLE_GATEWAY_PORT, SingleStack } from '../../infra/stacks/single.ts';
import { inputs, parse } from './_inputs.ts';

const synth = () => Testing.synth(new SingleStack(Testing.app(), 'single', inputs({ DOMAIN: 'me.example.org' }, ['single'])));

test('one droplet closed but for SSH, the instance through Docker over SSH on loopback, a tunnel to DOMAIN', (t) => {
  const out = synth();
  const doc = parse(out);
  t.true(Testing.toHaveResourceWithProperties(out, 'digitalocean_droplet', { size: 's-1vcpu-2gb', image: 'ubuntu-24-04-x64' }));
  const firewall = Object.values(doc.resource.digitalocean_firewall!)[0] as { inbound_rule: Array<{ port_range: string }> };
  t.deepEqual(
    firewall.inbound_rule.map((r) => r.port_range),
    ['22'],
  );
  t.true(Testing.toHaveProviderWithProperties(out, 'docker', { host: 'ssh://root@${digitalocean_droplet.server.ipv4_address}:22' }));
  const instance = doc.resource.docker_container!.instance as { ports: unknown[]; env: string[]; volumes: unknown[]; restart: string; read_only: boolean };
  t.deepEqual(instance.ports, [{ internal: SINGLE_GATEWAY_PORT, external: SINGLE_GATEWAY_PORT, ip: '127.0.0.1' }]);
  t.true(instance.env.includes('MATRIX_AUTH_TOKEN=${var.matrix_auth_token}'), 'the auth token is required, from a sensitive variable');
  t.like(doc.variable!.matrix_auth_token, { sensitive: true });
  t.is(instance.restart, 'unless-stopped');
  t.like(instance, { read_only: true, security_opts: ['no-new-privileges:true'], capabilities: { drop: ['ALL'] } });
  t.like(instance.volumes, [{ container_path: '/data', volume_name: '${docker_volume.home.name}' }]);
  const config = Object.values(doc.resource.cloudflare_zero_trust_tunnel_cloudflared_config!)[0] as { config: { ingress: unknown[] } };
  t.deepEqual(config.config.ingress, [{ hostname: 'me.example.org', service: `http://127.0.0.1:${SINGLE_GATEWAY_PORT}` }, { service: 'http_status:404' }]);
  t.true(Testing.toHaveResourceWithProperties(out, 'cloudflare_dns_record', { name: 'me.example.org', proxied: true, ttl: 1, type: 'CNAME' }));
});
