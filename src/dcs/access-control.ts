import { Range, type Etcd3 } from 'etcd3';

/**
 * etcd's users and roles for one cluster (issue 15): the agents' role may read and write
 * `<prefix>/<cluster>/` and nothing else (a leaked agent login cannot touch another
 * cluster or etcd's own settings); the reader role may only read `<prefix>/` (what
 * `status`, `health`, `history` and `events` need, and the list of clusters). etcd's
 * `root` user is the only one that can change users, roles or switch auth off.
 */
export interface AccessPlan {
  prefix: string;
  cluster: string;
  rootPassword: string;
  agent: { user: string; password: string };
  reader: { user: string; password: string };
}

export function agentRoleOf(cluster: string): string {
  return `pg-failover-${cluster}`;
}

export const READER_ROLE = 'pg-failover-reader';

/** Pure: the grants the plan gives, as etcd would list them (for the tests and `describe`). */
export function grantsOf(plan: AccessPlan): Array<{ role: string; permission: 'Readwrite' | 'Read'; prefix: string }> {
  return [
    { role: agentRoleOf(plan.cluster), permission: 'Readwrite', prefix: `${plan.prefix}/${plan.cluster}/` },
    { role: READER_ROLE, permission: 'Read', prefix: `${plan.prefix}/` },
  ];
}

/**
 * Creates what is missing and enables authentication. Idempotent: run again (as root,
 * once auth is on) it adds a new cluster's role or resets the passwords to the plan's,
 * which is how a password is rotated.
 */
export async function applyAccessPlan(etcd: Etcd3, plan: AccessPlan): Promise<{ enabled: boolean }> {
  const ignoreExists = (error: unknown) => {
    if (!/already exists/i.test(String((error as Error)?.message ?? error))) throw error;
  };
  await etcd.user('root').create(plan.rootPassword).catch(ignoreExists);
  await etcd.auth.userChangePassword({ name: 'root', password: plan.rootPassword });
  await etcd.user('root').addRole('root').catch(ignoreExists);
  for (const grant of grantsOf(plan)) {
    await etcd.role(grant.role).create().catch(ignoreExists);
    await etcd.role(grant.role).grant({ permission: grant.permission, range: Range.prefix(grant.prefix) });
  }
  for (const [login, role] of [
    [plan.agent, agentRoleOf(plan.cluster)],
    [plan.reader, READER_ROLE],
  ] as const) {
    await etcd.user(login.user).create(login.password).catch(ignoreExists);
    await etcd.auth.userChangePassword({ name: login.user, password: login.password });
    await etcd.user(login.user).addRole(role).catch(ignoreExists);
  }
  // etcd 3.4 has no AuthStatus call; enabling auth that is on already is a no-op.
  await etcd.auth.authEnable();
  return { enabled: true };
}
