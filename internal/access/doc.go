// Package access is amlid's one source of "which identity does this resource
// act as, and what must that identity be allowed to do" (issue 14):
//
//   - identity.go: the identities a resource holds and its acting identity
//     (SAI, else the first UAI by lower-cased resource ID), the order used by
//     every rule, MSI_ENDPOINT's default token and DEFAULT_IDENTITY_CLIENT_ID;
//   - requirement.go: requirements as data (identity, action or data action or
//     Key Vault access-policy permissions, scope, rule, why, the least-privileged
//     built-in role) and the one evaluator, over a Decider (the RBAC engine,
//     server-side or fed by ARM reads in the CLI);
//   - vaultpolicy.go: Key Vault's access-policy model, read one way;
//   - fix.go: the one place that writes the command that fixes a gap;
//   - rules.go: the rules that yield requirements (WS-5, EP-3, DS-8, …);
//   - analyze.go, whocan.go, leastpriv.go: the analyzer built on them.
//
// Role names and action strings come from access/catalog.
package access
