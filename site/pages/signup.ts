/** Choosing a handle: the form, its server-side checks, and the live availability check. */
import { PlatformError } from '../../control/errors.ts';
import { checkHandle, RESERVED_HANDLES } from '../../control/handles.ts';
import { checkForm, html, pageUser, rateLimit, requireSession, type SignedIn, type SiteDeps, type SiteRouter, seeOther, sessionOf } from '../context.ts';
import { signupPage } from '../views.ts';

export function signupPages(router: SiteRouter, deps: SiteDeps): void {
  const signedIn = requireSession(deps);

  router.get<SignedIn>('/signup', signedIn, (ctx) => {
    const { session } = ctx.state;
    if (session.user.handle) return ctx.redirect('/dashboard');
    html(ctx, 200, signupPage(pageUser(session)!, { handle: '', problem: null }, deps.settings));
  });

  router.post<SignedIn>('/signup', signedIn, async (ctx) => {
    const { session } = ctx.state;
    const form = await checkForm(ctx);
    rateLimit(ctx, deps);
    const handle = (form.get('handle') ?? '').trim().toLowerCase();
    const again = (problem: { status: number; message: string }) =>
      html(ctx, problem.status, signupPage(pageUser(session)!, { handle, problem: problem.message }, deps.settings));
    const problem = await handleProblem(deps, handle, session.user.id);
    if (problem) return again(problem);
    try {
      await deps.service.provision({ handle, userId: session.user.id }, `site:${session.user.id}`);
    } catch (err) {
      if (!(err instanceof PlatformError) || err.status >= 500) throw err;
      return again({ status: err.status, message: err.message });
    }
    seeOther(ctx, '/dashboard');
  });

  router.get('/api/handles/:handle', async (ctx) => {
    const session = await sessionOf(ctx, deps);
    const problem = await handleProblem(deps, ctx.params.handle!.toLowerCase(), session?.user.id ?? null);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { handle: ctx.params.handle, available: problem === null, problem: problem?.message ?? null };
  });
}

/** Why `handle` cannot be had by `userId` (null: anyone), or null when it can. */
async function handleProblem(deps: SiteDeps, handle: string, userId: string | null): Promise<{ status: number; message: string } | null> {
  const rule = checkHandle(handle);
  if (rule) return { status: 400, message: rule.message };
  if (RESERVED_HANDLES.has(handle)) return { status: 400, message: `"${handle}" is reserved` };
  const owner = (await deps.users.handleHolder(handle)) ?? (await deps.store.findByHandle(handle))?.owner_id;
  if (owner && owner !== userId) return { status: 409, message: `"${handle}" is taken: choose another handle.` };
  return null;
}
