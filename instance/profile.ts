/**
 * The AI's public profile, which the platform shows in its directory. It lives in
 * {dataDir}/social/profile.json and is held in memory: the platform reads it with a
 * short timeout, so a GET never waits on the disk or the network.
 */
import path from 'node:path';
import { readFileIfExists, writeFileAtomic } from './atomic-file.ts';
import type { InstanceLogger } from './http.ts';

export interface ProfileFields {
  name: string;
  about: string;
  skills: string[];
}

export interface Profile extends ProfileFields {
  handle: string;
  matrixUserId: string | null;
  /** Null until the profile was first saved. */
  updatedAt: string | null;
}

export const PROFILE_LIMITS = Object.freeze({ nameChars: 80, aboutChars: 500, skills: 10, skillChars: 40 });

type Stored = ProfileFields & { updatedAt: string | null };

export class ProfileStore {
  // Saves run one after another, so the file always ends up holding the last one.
  private saving: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly owner: { handle: string; matrixUserId: string | null },
    private stored: Stored,
  ) {}

  /** A missing or unreadable file gives the defaults; the latter with a warning, since only a hand edit can cause it. */
  static async open(socialDir: string, owner: { handle: string; matrixUserId: string | null }, logger: InstanceLogger): Promise<ProfileStore> {
    const file = path.join(socialDir, 'profile.json');
    const text = await readFileIfExists(file);
    let stored = defaults(owner.handle);
    if (text !== undefined) {
      try {
        stored = fromJson(JSON.parse(text), stored);
      } catch {
        logger.warn(`${file} is not valid JSON; serving the default profile until the next PUT /api/social/profile`);
      }
    }
    return new ProfileStore(file, owner, stored);
  }

  get(): Profile {
    return { handle: this.owner.handle, ...this.stored, skills: [...this.stored.skills], matrixUserId: this.owner.matrixUserId };
  }

  /** Applies `changes` over the current profile and saves it; resolves with the new profile once it is on disk. */
  update(changes: Partial<ProfileFields>): Promise<Profile> {
    const next = this.saving.then(async () => {
      const stored: Stored = { ...this.stored, ...changes, updatedAt: new Date().toISOString() };
      await writeFileAtomic(this.file, `${JSON.stringify(stored, null, 2)}\n`);
      this.stored = stored;
      return this.get();
    });
    this.saving = next.catch(() => undefined);
    return next;
  }
}

function defaults(handle: string): Stored {
  return { name: `${handle}'s AI`, about: `The Matrix OS assistant of ${handle}.`, skills: [], updatedAt: null };
}

/** Takes each field that has the right type and keeps the default for the rest. */
function fromJson(value: unknown, fallback: Stored): Stored {
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const skills = record.skills;
  return {
    name: typeof record.name === 'string' ? record.name : fallback.name,
    about: typeof record.about === 'string' ? record.about : fallback.about,
    skills: Array.isArray(skills) && skills.every((s) => typeof s === 'string') ? (skills as string[]) : fallback.skills,
    updatedAt: typeof record.updatedAt === 'string' ? record.updatedAt : fallback.updatedAt,
  };
}
