/**
 * Who may become a user (SIGNUP_MODE): asked only for a person the platform does not
 * know yet, inside the transaction that would create them, so a refusal creates
 * nothing and an existing user is never locked out by a later change of policy (an
 * admin suspends people; the policy does not).
 *
 * - open: anyone who signs in.
 * - allowlist: a verified email in SIGNUP_ALLOWLIST (an address or a whole @domain),
 *   or, through GitHub, a member of an organisation or team in GITHUB_ALLOWED_ORGS.
 * - invite: anyone with a valid invite code (redeemed here, one use).
 * - closed: nobody new.
 * ADMIN_EMAILS (verified) are always let in.
 */
import type { Transaction } from 'sequelize';
import type { SignupConfig } from '../config-signup.ts';
import { PlatformError } from '../errors.ts';
import type { Identity } from '../identity/oidc.ts';
import type { InviteProblem, Invites } from './invites.ts';

/** Refused by the sign-up policy: 403, with why and whom to ask. */
export class SignupRefusedError extends PlatformError {
  constructor(message: string) {
    super('signup_refused', message, { status: 403 });
  }
}

/** What a sign-in brings besides the identity: an invite code, GitHub memberships. */
export interface AdmissionContext {
  inviteCode?: string | null;
  /** Lowercase organisation logins and `org/team` slugs, from GitHub. */
  githubOrgs?: string[];
  githubTeams?: string[];
}

const INVITE_PROBLEMS: Record<InviteProblem, string> = {
  unknown: 'That invite code is not one of ours: check it for typos.',
  used: 'That invite code has been used as many times as it allows.',
  expired: 'That invite code has expired.',
  revoked: 'That invite code was withdrawn.',
};

export class Admission {
  constructor(
    private readonly config: SignupConfig,
    private readonly invites: Invites,
    private readonly adminEmails: readonly string[],
  ) {}

  get mode(): SignupConfig['mode'] {
    return this.config.mode;
  }

  /** Lets a new person in (returns the invite they used, if any), or throws SignupRefusedError. */
  async admit(identity: Identity, context: AdmissionContext, transaction: Transaction): Promise<{ inviteId: string | null }> {
    const email = identity.emailVerified ? identity.email : null;
    if (email && this.adminEmails.includes(email)) return { inviteId: null };
    switch (this.config.mode) {
      case 'open':
        return { inviteId: null };
      case 'closed':
        throw new SignupRefusedError(`Sign-up is closed: this event takes no new participants.${this.ask()}`);
      case 'allowlist': {
        if (email && this.allowedEmail(email)) return { inviteId: null };
        if (this.allowedOnGitHub(context)) return { inviteId: null };
        const what = email ? `${email} is not on this event's list` : 'your sign-in did not share a verified email address';
        const github = this.config.githubOrgs.length + this.config.githubTeams.length > 0 ? ', and you are not in one of its GitHub organisations' : '';
        throw new SignupRefusedError(`Sign-up is for the event's participants: ${what}${github}.${this.ask()}`);
      }
      case 'invite': {
        const code = context.inviteCode?.trim();
        if (!code) throw new SignupRefusedError(`Sign-up is by invitation: open your invite link, or enter your invite code on the sign-in page.${this.ask()}`);
        const redeemed = await this.invites.redeem(code, transaction);
        if ('problem' in redeemed) throw new SignupRefusedError(`${INVITE_PROBLEMS[redeemed.problem]}${this.ask()}`);
        return { inviteId: redeemed.id };
      }
    }
  }

  private allowedEmail(email: string): boolean {
    const domain = email.slice(email.lastIndexOf('@') + 1);
    return this.config.allowEmails.includes(email) || this.config.allowDomains.includes(domain);
  }

  private allowedOnGitHub(context: AdmissionContext): boolean {
    const orgs = new Set(context.githubOrgs ?? []);
    const teams = new Set(context.githubTeams ?? []);
    return this.config.githubOrgs.some((o) => orgs.has(o)) || this.config.githubTeams.some((t) => teams.has(`${t.org}/${t.team}`));
  }

  /** What a suspended person is told when they sign in: who can lift it (SUPPORT_CONTACT). */
  suspendedMessage(): string {
    const who = this.config.supportContact ?? "the event's organisers";
    return `This account is suspended, so it cannot sign in or use its Matrix OS. Contact ${who} to have it lifted.`;
  }

  private ask(): string {
    return this.config.supportContact ? ` Ask ${this.config.supportContact} if you should be let in.` : " Ask the event's organisers if you should be let in.";
  }
}
