/**
 * Keeping local-driver instances apart from each other and from the platform. When the
 * control service runs as root, each instance runs under a user id of its own (from
 * FIRST_UID up, recorded in DATA_DIR/local-driver/uids.table so a handle keeps its id),
 * its data directory belongs to that id alone (0700), and DATA_DIR can be crossed but
 * not listed (0711) with every file in it private to the control service (0600). A
 * process under another id cannot read /proc/<pid>/environ of the control service
 * either. Without root there is one user for everything: instances are not isolated,
 * which is for development only, and start-up says so.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Far above login users and the usual subordinate-id ranges (100000-165535). */
export const FIRST_UID = 300_000;

export interface Isolation {
  /** true: each instance has its own user id. */
  readonly perInstanceUser: boolean;
  /** Why not, when not (printed at start-up). */
  readonly reason: string | null;
}

export class InstanceUsers implements Isolation {
  readonly perInstanceUser: boolean;
  readonly reason: string | null;
  private readonly file: string;
  private allocating: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataDir: string,
    stateDir: string,
    options: { enabled: boolean; reason?: string },
  ) {
    // Not a .json file: every *.json here is an instance record.
    this.file = path.join(stateDir, 'uids.table');
    this.perInstanceUser = options.enabled;
    this.reason = options.enabled ? null : (options.reason ?? 'the control service does not run as root');
  }

  /** The user and group id `handle` runs as, or null when instances are not isolated. */
  async idsFor(handle: string): Promise<{ uid: number; gid: number } | null> {
    if (!this.perInstanceUser) return null;
    // Serialized: two handles allocated at once must not get the same id.
    const run = this.allocating.then(async () => {
      const table = await this.read();
      let uid = table[handle];
      if (uid === undefined) {
        uid = Math.max(FIRST_UID - 1, ...Object.values(table)) + 1;
        table[handle] = uid;
        const tmp = `${this.file}.${process.pid}.tmp`;
        await fsp.writeFile(tmp, JSON.stringify(table), { mode: 0o600 });
        await fsp.rename(tmp, this.file);
      }
      return { uid, gid: uid };
    });
    this.allocating = run.catch(() => undefined);
    return run;
  }

  /**
   * Before a start: DATA_DIR crossable but not listable, its files private, the user's
   * directory crossable by everyone (it holds the log, which only the platform opens),
   * and the data directory owned by the instance's id alone.
   */
  async prepare(userDir: string, volumePath: string, ids: { uid: number; gid: number } | null): Promise<void> {
    if (!ids) return;
    await fsp.chmod(this.dataDir, 0o711);
    for (const entry of await fsp.readdir(this.dataDir, { withFileTypes: true })) {
      const full = path.join(this.dataDir, entry.name);
      if (entry.isFile()) await fsp.chmod(full, 0o600);
      else if (entry.isDirectory()) await fsp.chmod(full, entry.name === 'users' ? 0o711 : 0o700);
    }
    await fsp.chmod(userDir, 0o711);
    const logs = path.join(userDir, 'logs');
    if (fs.existsSync(logs)) await fsp.chmod(logs, 0o700);
    const owner = await fsp.stat(volumePath);
    if (owner.uid !== ids.uid) await chownTree(volumePath, ids.uid, ids.gid);
    await fsp.chmod(volumePath, 0o700);
  }

  private async read(): Promise<Record<string, number>> {
    try {
      return JSON.parse(await fsp.readFile(this.file, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }
}

/** Whether `file` can be read by a user who owns none of its path (every directory o+x, the file o+r). */
export function readableByOthers(file: string): boolean {
  try {
    const target = fs.statSync(file);
    if ((target.mode & 0o004) === 0) return false;
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      if ((fs.statSync(dir).mode & 0o001) === 0) return false;
      if (dir === path.dirname(dir)) return true;
    }
  } catch {
    return false;
  }
}

async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  await fsp.lchown(root, uid, gid);
  for (const entry of await fsp.readdir(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name);
    if (entry.isDirectory()) await chownTree(full, uid, gid);
    else await fsp.lchown(full, uid, gid);
  }
}
