/**
 * Development convenience: when PLATFORM_SECRET or SECRET_KEY is unset (refused in
 * production), generate them once and keep them in DATA_DIR/dev-secrets.json (0600),
 * where the CLI finds them too. They are never printed.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

interface DevSecrets {
  platformSecret: string;
  secretKey: string;
}

function devSecretsPath(dataDir: string): string {
  return path.join(dataDir, 'dev-secrets.json');
}

export function loadOrCreateDevSecrets(dataDir: string): DevSecrets {
  const file = devSecretsPath(dataDir);
  try {
    const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<DevSecrets>;
    if (typeof stored.platformSecret === 'string' && typeof stored.secretKey === 'string') return stored as DevSecrets;
  } catch {
    /* missing or unreadable: create below */
  }
  const secrets: DevSecrets = { platformSecret: crypto.randomBytes(32).toString('hex'), secretKey: crypto.randomBytes(32).toString('hex') };
  fs.mkdirSync(dataDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(secrets), { mode: 0o600 });
  // link() fails if another process created the file first: then theirs wins.
  try {
    fs.linkSync(tmp, file);
  } catch {
    /* already there */
  }
  fs.rmSync(tmp, { force: true });
  return JSON.parse(fs.readFileSync(file, 'utf8')) as DevSecrets;
}
