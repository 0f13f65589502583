/**
 * OS-level helpers for the local driver: finding our instance processes again
 * after a control restart, telling them apart from unrelated processes that
 * reused a pid, and stopping a whole process group.
 */
import fs from 'node:fs/promises';
import net from 'node:net';

/** Environment variable every local instance carries, naming the driver that started it. */
export const DRIVER_MARKER = 'MATRIXOS_LOCAL_DRIVER';

export interface FoundProcess {
  pid: number;
  /** The instance's main process leads its own process group; its children do not. */
  leader: boolean;
  handle: string;
  gatewayPort: number | null;
  shellPort: number | null;
}

const canReadProc = process.platform === 'linux';

async function readEnviron(pid: number): Promise<Map<string, string> | null> {
  try {
    const raw = await fs.readFile(`/proc/${pid}/environ`, 'utf8');
    const env = new Map<string, string>();
    for (const entry of raw.split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
    return env;
  } catch {
    return null;
  }
}

function toFound(pid: number, env: Map<string, string>, stat: ProcStat): FoundProcess {
  const port = (name: string) => (env.has(name) ? Number(env.get(name)) : null);
  return { pid, leader: stat.pgid === pid, handle: env.get('MATRIX_HANDLE') ?? '', gatewayPort: port('PORT'), shellPort: port('SHELL_PORT') };
}

interface ProcStat {
  state: string;
  pgid: number;
}

/** State and process group from /proc/<pid>/stat (fields after the parenthesised name). */
async function readStat(pid: number): Promise<ProcStat | null> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readStat(pid);
  return stat === null || stat.state === 'Z';
}

/**
 * Whether pid is alive AND is the instance of `handle` started by driver `driverId`.
 * On Linux the process environment proves identity, so a recycled pid never matches.
 */
export async function isOurProcess(pid: number, driverId: string, handle: string): Promise<boolean> {
  if (!pidExists(pid)) return false;
  if (!canReadProc) return true;
  if (await isZombie(pid)) return false;
  const env = await readEnviron(pid);
  return env !== null && env.get(DRIVER_MARKER) === driverId && env.get('MATRIX_HANDLE') === handle;
}

/** Every live process carrying our driver marker (Linux only; elsewhere an empty list). */
export async function scanProcesses(driverId: string): Promise<FoundProcess[]> {
  if (!canReadProc) return [];
  const entries = await fs.readdir('/proc');
  const found: FoundProcess[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    const env = await readEnviron(pid);
    if (env?.get(DRIVER_MARKER) !== driverId) continue;
    const stat = await readStat(pid);
    if (stat === null || stat.state === 'Z') continue;
    found.push(toFound(pid, env, stat));
  }
  return found;
}

/**
 * SIGTERM to the process group led by pid, then SIGKILL after the grace period.
 * Resolves once no member of the group is left (a leader's children included).
 */
export async function terminateGroup(pid: number, graceMs: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  const groupExists = () => {
    try {
      process.kill(-pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  };
  const gone = async () => !groupExists() && (!pidExists(pid) || (canReadProc && (await isZombie(pid))));
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await gone()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  signal('SIGKILL');
  for (let i = 0; i < 200 && !(await gone()); i++) await new Promise((r) => setTimeout(r, 10));
}

/** A port that was free a moment ago; the instance binds it right after. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
