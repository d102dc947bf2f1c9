// RBAC as kube-apiserver evaluates it, from the project's own manifests: Roles/ClusterRoles and
// the (Cluster)RoleBindings that bind them to a user. Also records which grants requests used, so
// a test can prove the shipped Role is both sufficient and minimal.
import { readFileSync } from "node:fs";
import { loadAllYaml } from "@kubernetes/client-node";

export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface UserInfo {
  name: string;
  groups: string[];
}

export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** One literal (apiGroup, resource, verb) a bound rule lists. */
export interface Grant {
  role: string;
  namespace?: string;
  apiGroup: string;
  resource: string;
  verb: string;
}

interface Role {
  kind: "Role" | "ClusterRole";
  name: string;
  namespace?: string;
  rules: PolicyRule[];
}

interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

interface Binding {
  kind: "RoleBinding" | "ClusterRoleBinding";
  name: string;
  namespace?: string;
  roleRef: { kind: string; name: string };
  subjects: Subject[];
}

interface Manifest {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Subject[];
}

export const MASTERS_GROUP = "system:masters";

export function serviceAccountUser(namespace: string, name: string): UserInfo {
  return {
    name: `system:serviceaccount:${namespace}:${name}`,
    groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
  };
}

function roleKey(kind: string, name: string, namespace?: string): string {
  return kind === "ClusterRole" ? `ClusterRole//${name}` : `Role/${namespace ?? ""}/${name}`;
}

function grantKey(g: Grant): string {
  return [g.role, g.namespace ?? "", g.apiGroup, g.resource, g.verb].join("|");
}

function matchesOne(list: string[] | undefined, value: string): string | undefined {
  if (!list) return undefined;
  if (list.includes("*")) return "*";
  return list.includes(value) ? value : undefined;
}

// rbac/v1 ResourceMatches: "*", an exact "resource/subresource", or "*/subresource".
function matchResource(rule: PolicyRule, resource: string, subresource?: string): string | undefined {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === "*" || r === combined) return r;
    if (subresource && r === `*/${subresource}`) return r;
  }
  return undefined;
}

export class RbacAuthorizer {
  private readonly roles = new Map<string, Role>();
  private readonly bindings: Binding[] = [];
  private readonly used = new Set<string>();

  constructor(manifests: unknown[]) {
    for (const doc of manifests) this.add(doc as Manifest);
  }

  static fromYaml(text: string): RbacAuthorizer {
    return new RbacAuthorizer(loadAllYaml(text).filter((d) => d !== null && d !== undefined));
  }

  static fromFile(path: string): RbacAuthorizer {
    return RbacAuthorizer.fromYaml(readFileSync(path, "utf8"));
  }

  authorize(user: UserInfo, attrs: ResourceAttributes): boolean {
    if (user.groups.includes(MASTERS_GROUP)) return true;
    for (const binding of this.bindingsFor(user)) {
      if (binding.kind === "RoleBinding" && attrs.namespace !== binding.namespace) continue;
      const role = this.roleFor(binding);
      if (!role) continue;
      for (const rule of role.rules) {
        const grant = this.ruleGrant(role, rule, attrs);
        if (grant) {
          this.used.add(grantKey(grant));
          return true;
        }
      }
    }
    return false;
  }

  /** The message kube-apiserver puts in a 403 (after the "<resource> is forbidden: " prefix). */
  forbiddenReason(user: UserInfo, attrs: ResourceAttributes): string {
    const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    const where = attrs.namespace ? `in the namespace "${attrs.namespace}"` : "at the cluster scope";
    return `User "${user.name}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" ${where}`;
  }

  /** The rules of the Role bound to the user (in the namespace, when it has bindings in several). */
  rules(user: UserInfo, namespace?: string): PolicyRule[] {
    return structuredClone(this.boundRole(user, namespace).rules);
  }

  /** Replaces the rules of the Role bound to the user, e.g. to remove one grant for a test. */
  setRules(user: UserInfo, rules: PolicyRule[], namespace?: string): void {
    this.boundRole(user, namespace).rules = structuredClone(rules);
  }

  /** Every literal grant in the rules bound to the user. */
  grants(user: UserInfo): Grant[] {
    const out: Grant[] = [];
    for (const binding of this.bindingsFor(user)) {
      const role = this.roleFor(binding);
      if (!role) continue;
      for (const rule of role.rules) {
        for (const apiGroup of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            for (const verb of rule.verbs) out.push({ role: role.name, namespace: role.namespace, apiGroup, resource, verb });
          }
        }
      }
    }
    return out;
  }

  /** Grants no authorized request has used since the last reset. */
  unusedGrants(user: UserInfo): Grant[] {
    return this.grants(user).filter((g) => !this.used.has(grantKey(g)));
  }

  resetUsage(): void {
    this.used.clear();
  }

  private add(doc: Manifest): void {
    const name = doc.metadata?.name ?? "";
    const namespace = doc.metadata?.namespace;
    if (doc.kind === "Role" || doc.kind === "ClusterRole") {
      this.roles.set(roleKey(doc.kind, name, namespace), { kind: doc.kind, name, namespace, rules: doc.rules ?? [] });
    } else if ((doc.kind === "RoleBinding" || doc.kind === "ClusterRoleBinding") && doc.roleRef) {
      this.bindings.push({ kind: doc.kind, name, namespace, roleRef: doc.roleRef, subjects: doc.subjects ?? [] });
    }
  }

  private bindingsFor(user: UserInfo): Binding[] {
    return this.bindings.filter((b) => b.subjects.some((s) => this.subjectMatches(s, b, user)));
  }

  private subjectMatches(subject: Subject, binding: Binding, user: UserInfo): boolean {
    switch (subject.kind) {
      case "ServiceAccount":
        return user.name === `system:serviceaccount:${subject.namespace ?? binding.namespace}:${subject.name}`;
      case "User":
        return user.name === subject.name;
      case "Group":
        return user.groups.includes(subject.name);
      default:
        return false;
    }
  }

  private roleFor(binding: Binding): Role | undefined {
    return this.roles.get(roleKey(binding.roleRef.kind, binding.roleRef.name, binding.namespace));
  }

  private boundRole(user: UserInfo, namespace?: string): Role {
    const candidates = this.bindingsFor(user)
      .filter((b) => namespace === undefined || b.namespace === namespace)
      .map((b) => this.roleFor(b))
      .filter((r): r is Role => r !== undefined);
    if (candidates.length !== 1) {
      throw new Error(`fake-kube: expected exactly one role bound to ${user.name}${namespace ? ` in ${namespace}` : ""}, found ${candidates.length}`);
    }
    return candidates[0];
  }

  private ruleGrant(role: Role, rule: PolicyRule, attrs: ResourceAttributes): Grant | undefined {
    const verb = matchesOne(rule.verbs, attrs.verb);
    const apiGroup = matchesOne(rule.apiGroups, attrs.apiGroup);
    const resource = matchResource(rule, attrs.resource, attrs.subresource);
    if (verb === undefined || apiGroup === undefined || resource === undefined) return undefined;
    if (rule.resourceNames && rule.resourceNames.length > 0) {
      if (!attrs.name || !rule.resourceNames.includes(attrs.name)) return undefined;
    }
    return { role: role.name, namespace: role.namespace, apiGroup, resource, verb };
  }
}
