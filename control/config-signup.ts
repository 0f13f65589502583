/** Who may get an instance (control/users/admission.ts): the sign-up mode and its lists. */
import type { EnvReader } from './config-parse.ts';

export type SignupMode = 'open' | 'allowlist' | 'invite' | 'closed';

export interface SignupConfig {
  mode: SignupMode;
  /** allowlist: email addresses (alice@example.com) and whole domains (@example.com), lowercase. */
  allowEmails: string[];
  allowDomains: string[];
  /** allowlist: GitHub organisations (`org`) and teams (`org/team-slug`) whose members may sign up through GitHub. */
  githubOrgs: string[];
  githubTeams: Array<{ org: string; team: string }>;
  /** Whom a refused person should ask (shown on the refusal), e.g. an email address or a URL. */
  supportContact: string | null;
  /** The event the platform serves, for the landing page (EVENT_*); each part optional. */
  event: { name: string | null; description: string | null; dates: string | null; url: string | null };
}

export function parseSignup(read: EnvReader): SignupConfig {
  const mode = read.oneOf('SIGNUP_MODE', ['open', 'allowlist', 'invite', 'closed'] as const, 'open');
  const allowEmails: string[] = [];
  const allowDomains: string[] = [];
  for (const entry of list(read, 'SIGNUP_ALLOWLIST')) {
    const value = entry.toLowerCase();
    if (/^@[a-z0-9.-]+\.[a-z]{2,}$/.test(value)) allowDomains.push(value.slice(1));
    else if (/^[^\s@]+@[a-z0-9.-]+\.[a-z]{2,}$/.test(value)) allowEmails.push(value);
    else read.problems.push(`SIGNUP_ALLOWLIST entries must be email addresses (alice@example.com) or domains (@example.com), got "${entry}"`);
  }
  const githubOrgs: string[] = [];
  const githubTeams: Array<{ org: string; team: string }> = [];
  for (const entry of list(read, 'GITHUB_ALLOWED_ORGS')) {
    const match = /^([A-Za-z0-9-]{1,39})(?:\/([A-Za-z0-9_.-]{1,100}))?$/.exec(entry);
    if (!match) read.problems.push(`GITHUB_ALLOWED_ORGS entries must be an organisation (acme) or a team (acme/hackers), got "${entry}"`);
    else if (match[2]) githubTeams.push({ org: match[1]!.toLowerCase(), team: match[2].toLowerCase() });
    else githubOrgs.push(match[1]!.toLowerCase());
  }
  const eventUrl = read.optionalString('EVENT_URL');
  if (eventUrl !== null && !/^https?:\/\/[^\s]+$/.test(eventUrl)) read.problems.push(`EVENT_URL must be an http(s) address, got "${eventUrl}"`);
  const event = {
    name: read.optionalString('EVENT_NAME'),
    description: read.optionalString('EVENT_DESCRIPTION'),
    dates: read.optionalString('EVENT_DATES'),
    url: eventUrl,
  };
  return { mode, allowEmails, allowDomains, githubOrgs, githubTeams, supportContact: read.optionalString('SUPPORT_CONTACT'), event };
}

function list(read: EnvReader, name: string): string[] {
  return read
    .string(name, '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
}
