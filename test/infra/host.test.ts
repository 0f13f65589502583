import test from 'ava';
import { Testing } from 'cdktf';
import yaml from 'js-yaml';
import { DATA_MOUNT, NOMAD_CONFIG } from '../../infra/cloud-init.ts';
import { HostStack } from '../../infra/stacks/host.ts';
import { inputs, parse } from './_inputs.ts';

const synth = (over: Record<string, string> = {}) => Testing.synth(new HostStack(Testing.app(), 'host', inputs(over)));

test('a droplet with the operator key, a block volume attached, and a firewall closed but for SSH', (t) => {
  const out = synth({ SSH_ALLOWED_CIDRS: '203.0.113.0/24' });
  t.true(Testing.toHaveResourceWithProperties(out, 'digitalocean_droplet', { image: 'ubuntu-24-04-x64', region: 'fra1', size: 's-4vcpu-8gb' }));
  t.true(Testing.toHaveResourceWithProperties(out, 'digitalocean_volume', { size: 100, initial_filesystem_type: 'ext4' }));
  t.true(Testing.toHaveResource(out, 'digitalocean_volume_attachment'));
  const firewall = Object.values(parse(out).resource.digitalocean_firewall!)[0] as { inbound_rule: unknown[]; outbound_rule: unknown[] };
  t.deepEqual(firewall.inbound_rule, [{ protocol: 'tcp', port_range: '22', source_addresses: ['203.0.113.0/24'] }], 'nothing in but SSH');
  t.is(firewall.outbound_rule.length, 3);
});

test('cloud-init is YAML: Docker and Nomad installed, Nomad on loopback with ACLs, data on the volume, containers fenced in', (t) => {
  const droplet = Object.values(parse(synth()).resource.digitalocean_droplet!)[0] as { user_data: string };
  t.true(droplet.user_data.startsWith('#cloud-config\n'));
  const doc = yaml.load(droplet.user_data) as {
    packages: string[];
    mounts: string[][];
    write_files: Array<{ path: string; content: string }>;
    runcmd: string[][];
  };
  const file = (path: string) => doc.write_files.find((f) => f.path === path)?.content ?? '';
  t.true(doc.runcmd.some((cmd) => cmd.join(' ').includes('apt-get install -y docker-ce docker-ce-cli containerd.io nomad')));
  t.is(doc.mounts[0]![1], DATA_MOUNT);
  t.is(file('/etc/nomad.d/nomad.hcl'), NOMAD_CONFIG);
  t.regex(NOMAD_CONFIG, /acl \{\n {2}enabled = true\n\}/);
  t.regex(NOMAD_CONFIG, /bind_addr = "127\.0\.0\.1"/);
  t.regex(NOMAD_CONFIG, /network_interface = "lo"/, 'instance ports are published on loopback only');
  const daemon = JSON.parse(file('/etc/docker/daemon.json')) as Record<string, unknown>;
  t.like(daemon, { icc: false, 'data-root': `${DATA_MOUNT}/docker` });
  const firewall = file('/usr/local/sbin/matrixos-firewall');
  t.regex(firewall, /-A MATRIXOS-TO-HOST -p tcp --dport 8080 -j RETURN\n.*-A MATRIXOS-TO-HOST -j DROP/);
  t.regex(firewall, /169\.254\.0\.0\/16/);
  t.regex(firewall, /for bridge in docker0 nomad/);
  const enable = doc.runcmd.map((cmd) => cmd.join(' '));
  t.true(enable.indexOf('systemctl enable --now matrixos-firewall') < enable.indexOf('systemctl enable --now nomad'), 'the fence before Nomad');
  t.regex(file('/etc/systemd/system/nomad.service.d/matrixos-firewall.conf'), /Requires=matrixos-firewall\.service/);
  t.regex(file('/etc/systemd/system/matrixos-firewall.service'), /Before=nomad\.service/);
  t.regex(firewall, /ip6tables -I INPUT 1 -i "\$bridge" -j DROP/);
  t.true(daemon['no-new-privileges']);
});
