/**
 * The host's first boot (cloud-init). JSON is YAML, so the document is rendered as JSON
 * after the `#cloud-config` line: no YAML library, no quoting mistakes.
 *
 * It installs Docker (Docker's apt repository) and Nomad (HashiCorp's), one node as
 * server and client with ACLs on and every Nomad address on loopback; puts Docker's data,
 * and so every user's volume, on the block volume; and fences containers in: they reach
 * the internet and the meter's port on the host, nothing else on the host, no private
 * or link-local network (the metadata service), no other container.
 */

export interface CloudInitOptions {
  /** The DigitalOcean volume's name: it appears as /dev/disk/by-id/scsi-0DO_Volume_<name>. */
  volumeName: string;
  /** The meter's port, the one host port containers may reach. */
  meterPort: number;
}

export const DATA_MOUNT = '/mnt/matrixos';
/** Host volume for the control service's DATA_DIR (SQLite, archives). */
export const PLATFORM_HOST_VOLUME = 'platform-data';

export const NOMAD_CONFIG = `# Written by cloud-init (infra/cloud-init.ts). One node: server and client.
datacenter = "dc1"
data_dir   = "/opt/nomad/data"
# Nothing of Nomad listens beyond loopback: operators use an SSH tunnel (docs/deployment.md).
bind_addr = "127.0.0.1"
advertise {
  http = "127.0.0.1"
  rpc  = "127.0.0.1"
  serf = "127.0.0.1"
}
server {
  enabled          = true
  bootstrap_expect = 1
}
client {
  enabled = true
  servers = ["127.0.0.1"]
  # Instances' ports are published on loopback: the router (on the host) reaches them,
  # the internet and other containers do not.
  network_interface = "lo"
  host_volume "${PLATFORM_HOST_VOLUME}" {
    path      = "${DATA_MOUNT}/platform"
    read_only = false
  }
}
# Every API call needs a token; anonymous requests are denied (bootstrap: docs/deployment.md).
acl {
  enabled = true
}
plugin "docker" {
  config {
    allow_privileged = false
  }
}
`;

export const DOCKER_DAEMON = {
  'data-root': `${DATA_MOUNT}/docker`,
  // No container talks to another over the default bridge.
  icc: false,
  // setuid binaries in an image cannot regain privileges.
  'no-new-privileges': true,
  'live-restore': true,
  'log-driver': 'json-file',
  'log-opts': { 'max-size': '10m', 'max-file': '3' },
};

/** iptables rules: what a container may reach. Idempotent: the chains are rebuilt on every run. */
export function firewallScript(meterPort: number): string {
  return `#!/bin/sh
# Written by cloud-init (infra/cloud-init.ts): what containers may reach.
set -eu
chain() { iptables -N "$1" 2>/dev/null || iptables -F "$1"; }

# Containers to this host: only the meter (and answers to connections the host opened).
chain MATRIXOS-TO-HOST
iptables -A MATRIXOS-TO-HOST -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
iptables -A MATRIXOS-TO-HOST -p tcp --dport ${meterPort} -j RETURN
iptables -A MATRIXOS-TO-HOST -j DROP

# Containers out: the internet, not private or link-local networks, not each other.
chain MATRIXOS-EGRESS
iptables -A MATRIXOS-EGRESS -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN
for net in 0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 169.254.0.0/16 172.16.0.0/12 192.0.0.0/24 192.168.0.0/16 198.18.0.0/15 224.0.0.0/3; do
  iptables -A MATRIXOS-EGRESS -d "$net" -j DROP
done
iptables -A MATRIXOS-EGRESS -j RETURN

# DOCKER-USER exists once Docker runs (this unit starts after it, and before Nomad).
iptables -N DOCKER-USER 2>/dev/null || true
for bridge in docker0 nomad; do
  iptables -C INPUT -i "$bridge" -j MATRIXOS-TO-HOST 2>/dev/null || iptables -I INPUT 1 -i "$bridge" -j MATRIXOS-TO-HOST
  iptables -C DOCKER-USER -i "$bridge" -j MATRIXOS-EGRESS 2>/dev/null || iptables -I DOCKER-USER 1 -i "$bridge" -j MATRIXOS-EGRESS
  # No IPv6 from containers to the host either (Docker gives them none, link-local aside).
  ip6tables -C INPUT -i "$bridge" -j DROP 2>/dev/null || ip6tables -I INPUT 1 -i "$bridge" -j DROP
done
`;
}

const FIREWALL_UNIT = `[Unit]
Description=Matrix OS: what containers may reach
# After Docker (its DOCKER-USER chain), before Nomad starts any instance, again whenever Docker restarts.
After=docker.service
Before=nomad.service
Requires=docker.service
PartOf=docker.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/matrixos-firewall
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
`;

const NOMAD_DROP_IN = `[Unit]
Requires=matrixos-firewall.service
After=matrixos-firewall.service
`;

export function renderCloudInit(options: CloudInitOptions): string {
  const device = `/dev/disk/by-id/scsi-0DO_Volume_${options.volumeName}`;
  const document = {
    package_update: true,
    package_upgrade: true,
    packages: ['ca-certificates', 'curl', 'gnupg', 'iptables', 'unattended-upgrades'],
    mounts: [[device, DATA_MOUNT, 'ext4', 'defaults,nofail,discard', '0', '2']],
    write_files: [
      { path: '/etc/nomad.d/nomad.hcl', permissions: '0640', content: NOMAD_CONFIG },
      { path: '/etc/docker/daemon.json', permissions: '0644', content: `${JSON.stringify(DOCKER_DAEMON, null, 2)}\n` },
      { path: '/usr/local/sbin/matrixos-firewall', permissions: '0755', content: firewallScript(options.meterPort) },
      { path: '/etc/systemd/system/matrixos-firewall.service', permissions: '0644', content: FIREWALL_UNIT },
      // Nomad never runs an instance without the fence: it needs the firewall unit up.
      { path: '/etc/systemd/system/nomad.service.d/matrixos-firewall.conf', permissions: '0644', content: NOMAD_DROP_IN },
    ],
    runcmd: [
      ['sh', '-c', `mkdir -p ${DATA_MOUNT} && (mountpoint -q ${DATA_MOUNT} || mount -o defaults,nofail,discard ${device} ${DATA_MOUNT})`],
      ['mkdir', '-p', `${DATA_MOUNT}/platform`, `${DATA_MOUNT}/docker`],
      // The control image runs as node (uid 1000): its DATA_DIR is this host volume.
      ['chown', '1000:1000', `${DATA_MOUNT}/platform`],
      ['chmod', '0700', `${DATA_MOUNT}/platform`],
      ['install', '-m', '0755', '-d', '/etc/apt/keyrings'],
      ['sh', '-c', 'curl -fsSL https://download.docker.com/linux/ubuntu/gpg -o /etc/apt/keyrings/docker.asc'],
      [
        'sh',
        '-c',
        'echo "deb [signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/ubuntu $(. /etc/os-release && echo $VERSION_CODENAME) stable" > /etc/apt/sources.list.d/docker.list',
      ],
      ['sh', '-c', 'curl -fsSL https://apt.releases.hashicorp.com/gpg | gpg --dearmor -o /etc/apt/keyrings/hashicorp.gpg'],
      [
        'sh',
        '-c',
        'echo "deb [signed-by=/etc/apt/keyrings/hashicorp.gpg] https://apt.releases.hashicorp.com $(. /etc/os-release && echo $VERSION_CODENAME) main" > /etc/apt/sources.list.d/hashicorp.list',
      ],
      ['apt-get', 'update'],
      ['apt-get', 'install', '-y', 'docker-ce', 'docker-ce-cli', 'containerd.io', 'nomad'],
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', '--now', 'docker'],
      ['systemctl', 'enable', '--now', 'matrixos-firewall'],
      ['systemctl', 'enable', '--now', 'nomad'],
    ],
  };
  return `#cloud-config\n${JSON.stringify(document, null, 2)}\n`;
}
